//! The reader: reads clamd's replies and hands each to its request.

use std::sync::atomic::Ordering;

use tokio::io::AsyncReadExt;

use super::{Failure, Lifecycle, Shared, Stage};
use crate::error::{ClamError, Op};
use crate::protocol::{self, ErrorReason, ReplyEvent, ReplyReader, Verdict};
use crate::transport::{ConnRead, Endpoint};

/// Reads replies until the connection ends; returns why it ended.
pub(super) async fn read_replies(mut rd: ConnRead, endpoint: &Endpoint, shared: &Shared) -> ClamError {
  let mut reader = ReplyReader::new();
  let mut buf = vec![0u8; 16 * 1024];
  loop {
    let n = match rd.read(&mut buf).await {
      Ok(n) => n,
      Err(e) => return endpoint.io_error(&e, Op::Read),
    };
    rd.quick_ack();
    shared.last_read_ms.store(shared.since_epoch(), Ordering::Relaxed);
    if n == 0 {
      // A reply without its NUL before EOF (clamd's `COMMAND READ TIMED OUT\n`).
      if let Some(rest) = reader.take_rest() {
        if let Err(err) = deliver(&rest, false, shared) {
          return err;
        }
      }
      return ClamError::HangUp;
    }
    reader.push(&buf[..n]);
    while let Some(event) = reader.next_event() {
      let raw = match event {
        ReplyEvent::Reply(raw) => raw,
        ReplyEvent::TooLong => return ClamError::Protocol("clamd reply exceeds 64 KiB".into()),
      };
      if let Err(err) = deliver(&raw, true, shared) {
        return err;
      }
    }
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
