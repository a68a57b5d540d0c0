//! The reader: reads clamd's replies and hands each to its request. The runtime reads them
//! (`read_replies`, a task), or whoever watches the socket for the session (`WatchedReplies`, see
//! `reply_watch`); both go through one `Intake`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;

use super::{Failure, Lifecycle, Shared, Stage};
use crate::error::{ClamError, Op};
use crate::protocol::{self, ErrorReason, ReplyEvent, ReplyReader, Verdict};
use crate::reply_watch::ReplySink;
use crate::transport::{self, ConnRead, Endpoint};

/// Reads replies until the connection ends; returns why it ended.
pub(super) async fn read_replies(mut rd: ConnRead, endpoint: &Endpoint, shared: &Shared) -> ClamError {
  let mut intake = Intake::new();
  let mut buf = vec![0u8; 16 * 1024];
  loop {
    let n = match rd.read(&mut buf).await {
      Ok(n) => n,
      Err(e) => return endpoint.io_error(&e, Op::Read),
    };
    rd.quick_ack();
    if n == 0 {
      return intake.end(shared);
    }
    if let Err(err) = intake.bytes(&buf[..n], shared) {
      return err;
    }
  }
}

/// What has been read of a session's replies: each complete reply goes to its request as its
/// NUL arrives. Free of I/O, whoever reads.
struct Intake {
  reader: ReplyReader,
}

impl Intake {
  fn new() -> Intake {
    Intake {
      reader: ReplyReader::new(),
    }
  }

  /// Bytes read from the connection. An `Err` ends the session.
  fn bytes(&mut self, data: &[u8], shared: &Shared) -> Result<(), ClamError> {
    shared.last_read_ms.store(shared.since_epoch(), Ordering::Relaxed);
    self.reader.push(data);
    while let Some(event) = self.reader.next_event() {
      let raw = match event {
        ReplyEvent::Reply(raw) => raw,
        ReplyEvent::TooLong => return Err(ClamError::Protocol("clamd reply exceeds 64 KiB".into())),
      };
      deliver(&raw, true, shared)?;
    }
    Ok(())
  }

  /// The connection ended (EOF): why the session ends.
  fn end(&mut self, shared: &Shared) -> ClamError {
    shared.last_read_ms.store(shared.since_epoch(), Ordering::Relaxed);
    // A reply without its NUL before EOF (clamd's `COMMAND READ TIMED OUT\n`).
    if let Some(rest) = self.reader.take_rest() {
      if let Err(err) = deliver(&rest, false, shared) {
        return err;
      }
    }
    ClamError::HangUp
  }
}

/// A session's replies, read by whoever is told its socket is readable: the watcher's thread
/// (`ReplySink`), or the session itself when a reply deadline falls due, in case that thread is
/// busy. When reading ends it records why (`reader_error`) and wakes the writer, as the reader
/// task does.
#[cfg(unix)]
pub(super) struct WatchedReplies {
  shared: Arc<Shared>,
  endpoint: Endpoint,
  /// `None` once reading has ended.
  state: Mutex<Option<(Intake, Vec<u8>)>>,
}

#[cfg(unix)]
impl WatchedReplies {
  pub(super) fn new(shared: Arc<Shared>, endpoint: Endpoint) -> WatchedReplies {
    WatchedReplies {
      shared,
      endpoint,
      state: Mutex::new(Some((Intake::new(), vec![0u8; 16 * 1024]))),
    }
  }

  /// Reads what `fd` holds now; `false` once reading has ended.
  pub(super) fn read_now(&self, fd: std::os::fd::RawFd) -> bool {
    let mut state = self.state.lock().unwrap();
    let Some((intake, buf)) = state.as_mut() else {
      return false;
    };
    let end = loop {
      // SAFETY: a live socket (its owner stops reading before closing it) and a buffer of
      // `buf.len()` bytes.
      let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
      if n < 0 {
        let err = std::io::Error::last_os_error();
        match err.kind() {
          std::io::ErrorKind::WouldBlock => return true,
          std::io::ErrorKind::Interrupted => continue,
          _ => break self.endpoint.io_error(&err, Op::Read),
        }
      }
      if !self.endpoint.is_unix() {
        transport::quick_ack(fd);
      }
      if n == 0 {
        break intake.end(&self.shared);
      }
      if let Err(err) = intake.bytes(&buf[..n as usize], &self.shared) {
        break err;
      }
      if (n as usize) < buf.len() {
        // Read to the end of what was there (a stream socket's short read): the watcher calls
        // again when more comes, which spares a read that would only say "nothing more".
        return true;
      }
    };
    *state = None;
    drop(state);
    *self.shared.reader_error.lock().unwrap() = Some(end);
    self.shared.wake.notify_one();
    false
  }

  /// The session has ended: nothing more is read.
  pub(super) fn stop(&self) {
    *self.state.lock().unwrap() = None;
  }

  /// Nobody will read: the session ends (`Closed`, as for a connection the client closed).
  pub(super) fn unwatched(&self) {
    if self.state.lock().unwrap().take().is_some() {
      *self.shared.reader_error.lock().unwrap() = Some(ClamError::Closed);
      self.shared.wake.notify_one();
    }
  }
}

#[cfg(unix)]
impl ReplySink for WatchedReplies {
  fn readable(&self, fd: std::os::fd::RawFd) -> bool {
    self.read_now(fd)
  }

  fn unwatched(&self) {
    WatchedReplies::unwatched(self)
  }
}

/// Hands one reply to its request: `N: reply` to request N, or an unnumbered error of clamd's
/// to the only request outstanding. `terminated` is false for what was left without a NUL when
/// the connection closed: it may be cut short (`stream: OK` can be the start of
/// `stream: OK.Bad FOUND`), so it is never taken as Clean. Any other reply breaks the session
/// (an `Err`), leaving the request pending for the teardown to hand back.
fn deliver(raw: &[u8], terminated: bool, shared: &Shared) -> Result<(), ClamError> {
  let unnumbered = || ClamError::Protocol(format!("clamd sent an unnumbered reply: {}", protocol::normalise(raw)));
  let mut pending = shared.pending.lock().unwrap();
  let (id, text, numbered) = match protocol::split_session_reply(raw) {
    Some((id, reply)) if pending.contains_key(&id) => (id, reply, true),
    Some((id, _)) => return Err(ClamError::Protocol(format!("clamd answered unknown request {id}"))),
    // Older clamd builds and some proxies answer an error without the session's number.
    None if pending.len() == 1 => (*pending.keys().next().expect("one entry"), raw, false),
    None => return Err(unnumbered()),
  };
  let reply = protocol::classify(text, pending[&id].kind);
  if !numbered && !matches!(&reply.verdict, Verdict::ScanError { reason } if reason.is_clamd_error()) {
    return Err(unnumbered());
  }
  if !terminated && reply.verdict == Verdict::Clean {
    return Err(ClamError::Protocol(
      "clamd closed the connection in the middle of a reply".into(),
    ));
  }
  let p = pending.remove(&id).expect("checked above");
  let now_idle = pending.values().all(|p| p.answer.is_none());
  drop(pending);
  shared.busy();
  if !p.complete {
    // clamd answered before it had the whole upload (the size limit, or a broken peer): stop
    // uploading, end the session (its other requests go to a new one). A Clean here would be a
    // verdict on bytes clamd never received.
    shared.answered_early.store(true, Ordering::SeqCst);
    shared.advance(Lifecycle::Draining);
    shared.wake.notify_one();
    if reply.verdict == Verdict::Clean {
      p.answer(Err(Failure {
        error: ClamError::Protocol("clamd answered before the upload was complete".into()),
        stage: Stage::Final,
        body: None,
      }));
      return Ok(());
    }
  } else if reply.verdict
    == (Verdict::ScanError {
      reason: ErrorReason::SizeLimit,
    })
  {
    // clamd closes the connection after this reply: take no new request, before the caller
    // (whose next call could otherwise land here) hears the answer.
    shared.advance(Lifecycle::Draining);
  }
  if now_idle {
    // Only the last answer wakes the writer (to start the idle countdown, or end a retired session).
    shared.wake.notify_one();
  }
  let bytes = p.bytes;
  p.answer(Ok((reply, bytes)));
  Ok(())
}
