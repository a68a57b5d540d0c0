//! A request's life inside a session: what it uploads (`Body`), how far it got when it failed
//! (`Stage`), its caller's hold on it (`RequestHandle`), and its entry while it awaits a reply
//! (`Pending`). A request counts towards its session's load for exactly as long as it exists
//! (`LoadToken`), wherever it is dropped.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::Session;
use crate::cancel::Cancel;
use crate::error::ClamError;
use crate::protocol::{RequestKind, ScanReply};
use crate::source::Source;

/// What a request uploads.
pub enum Body {
  /// INSTREAM from memory or from a JS stream.
  Instream(Source),
  /// INSTREAM of an open regular file, read from its start on a thread of its own.
  File { file: Arc<std::fs::File>, path: String },
  /// FILDES: the open file itself travels over the UNIX socket.
  Fildes { file: Arc<std::fs::File>, path: String },
}

impl Body {
  pub(super) fn kind(&self) -> RequestKind {
    match self {
      Body::Fildes { .. } => RequestKind::Fildes,
      _ => RequestKind::Instream,
    }
  }
}

/// How far a failed request got, which decides what its caller may do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
  /// The connection could not be opened.
  Connect,
  /// The session ended before this request was written: send it elsewhere, nothing was lost.
  NotSent,
  /// Written (at least partly) and unanswered when the session ended. With `ClamError::Closed`
  /// the session was ended for another request's sake (its timeout, abort or early reply).
  Sent,
  /// Failed for good: the request's own payload failed (unreadable file, failed stream), or
  /// clamd answered it in a way that can be no verdict (Clean before the upload was complete).
  Final,
}

pub struct Failure {
  pub error: ClamError,
  pub stage: Stage,
  /// The body back, when the session still had it (streams within their replay window).
  pub body: Option<Body>,
}

pub type Answer = Result<(ScanReply, u64), Failure>;

/// Where a request's answer goes: called exactly once. A request dropped unanswered (a session
/// torn down by a panic, a runtime shutting down) answers `Closed` on its way out, so that no
/// caller ever waits for an answer that cannot come.
pub struct Reply(Option<Box<dyn FnOnce(Answer) + Send>>);

impl Reply {
  pub fn new(f: impl FnOnce(Answer) + Send + 'static) -> Reply {
    Reply(Some(Box::new(f)))
  }

  pub fn send(mut self, answer: Answer) {
    if let Some(f) = self.0.take() {
      f(answer)
    }
  }

  /// The caller gave up on it (an abort): it is never called.
  pub(super) fn discard(mut self) {
    self.0.take();
  }
}

impl Drop for Reply {
  fn drop(&mut self) {
    if let Some(f) = self.0.take() {
      f(Err(Failure {
        error: ClamError::Closed,
        stage: Stage::Sent,
        body: None,
      }))
    }
  }
}

/// How long a request may wait in its session's queue, and the figure its timeout reports.
#[derive(Clone, Copy)]
pub struct QueueDeadline {
  pub at: Instant,
  pub ms: u64,
}

// A request's progress, owned by the session; its caller acts on it through a RequestHandle.
pub(super) const QUEUED: u8 = 0;
pub(super) const WRITING: u8 = 1;
pub(super) const SENT: u8 = 2;

/// One unit of a session's load, held by a request from its submission until it is answered,
/// handed back or dropped: the load is derived from the requests the session holds.
pub(super) struct LoadToken(Arc<AtomicUsize>);

impl LoadToken {
  pub(super) fn new(load: &Arc<AtomicUsize>) -> LoadToken {
    load.fetch_add(1, Ordering::Relaxed);
    LoadToken(load.clone())
  }
}

impl Drop for LoadToken {
  fn drop(&mut self) {
    self.0.fetch_sub(1, Ordering::Relaxed);
  }
}

/// A caller's hold on its request inside a session: what giving up means depends on how far the
/// request got, and the session decides it.
pub struct RequestHandle {
  pub(super) session: Arc<Session>,
  pub(super) state: Arc<AtomicU8>,
}

impl RequestHandle {
  /// The caller aborted. Queued: skipped by the writer. Being written: the session ends
  /// (INSTREAM cannot be cut short). Sent: abandoned, its reply dropped when it comes.
  pub fn cancel(&self, cancel: &Arc<Cancel>) {
    match self.state.load(Ordering::SeqCst) {
      WRITING => self.session.kill(),
      SENT => self.session.abandon(cancel),
      _ => {}
    }
  }
}

pub struct Request {
  pub(super) state: Arc<AtomicU8>,
  pub body: Body,
  pub answer: Reply,
  /// The caller's abort switch; a queued request whose caller gave up is skipped.
  pub cancel: Arc<Cancel>,
  /// The reply timeout, from when the request is completely written (restarted by every byte
  /// clamd sends on the session).
  pub timeout: Option<Duration>,
  /// Still queued at this deadline: answered `QueueTimeout`, never written.
  pub queue_deadline: Option<QueueDeadline>,
  /// The endpoint-wide request slot, released when the request is answered or dropped.
  pub slot: OwnedSemaphorePermit,
  /// The client's `maxFileSize`: a larger payload is not sent, or its upload stops there.
  pub max_bytes: Option<u64>,
  /// Set by the session that takes it.
  pub(super) load: Option<LoadToken>,
}

impl Request {
  #[allow(clippy::too_many_arguments)]
  pub fn new(
    body: Body,
    answer: Reply,
    cancel: Arc<Cancel>,
    timeout: Option<Duration>,
    queue_deadline: Option<QueueDeadline>,
    slot: OwnedSemaphorePermit,
    max_bytes: Option<u64>,
  ) -> Request {
    Request {
      state: Arc::new(AtomicU8::new(QUEUED)),
      body,
      answer,
      cancel,
      timeout,
      queue_deadline,
      slot,
      max_bytes,
      load: None,
    }
  }

  /// Answers a request that was never written: its caller may send it elsewhere, body intact.
  /// Its load and its request slot are gone before its caller hears the answer.
  pub(super) fn hand_back(self, error: ClamError, stage: Stage) {
    let Request {
      body,
      answer,
      slot,
      load,
      ..
    } = self;
    drop((slot, load));
    answer.send(Err(Failure {
      error,
      stage,
      body: Some(body),
    }));
  }

  /// Takes the request out of the queue for writing: its pending entry (no body yet, nothing
  /// written, not sent), with the body, its progress and its size guard apart.
  pub(super) fn into_pending(self) -> (Pending, Body, Arc<AtomicU8>, Option<u64>) {
    let Request {
      state,
      body,
      answer,
      cancel,
      timeout,
      queue_deadline: _,
      slot,
      max_bytes,
      load,
    } = self;
    let pending = Pending {
      answer: Some(answer),
      body: None,
      kind: body.kind(),
      complete: false,
      bytes: 0,
      cancel,
      _slot: slot,
      _load: load,
      timeout,
      sent_at: None,
      timed_out: false,
    };
    (pending, body, state, max_bytes)
  }

  /// Answers a request whose queue wait ran out: never written, and not to be sent elsewhere.
  pub(super) fn queue_expired(self, ms: u64) {
    let Request { answer, slot, load, .. } = self;
    drop((slot, load));
    answer.send(Err(Failure {
      error: ClamError::QueueTimeout(ms),
      stage: Stage::Final,
      body: None,
    }));
  }
}

/// A request written (or being written) and not yet answered.
pub(super) struct Pending {
  /// None once the caller abandoned the request (an abort after it was sent): its reply, if
  /// it ever comes, is dropped.
  pub(super) answer: Option<Reply>,
  pub(super) body: Option<Body>,
  pub(super) kind: RequestKind,
  /// The request's last write (the one with the terminator, or the descriptor) has begun: a
  /// reply that comes before cannot be a verdict on the whole payload.
  pub(super) complete: bool,
  /// Payload bytes written so far (the file size for FILDES).
  pub(super) bytes: u64,
  pub(super) cancel: Arc<Cancel>,
  /// The endpoint-wide request slot, released with the entry (a reply, or the teardown).
  pub(super) _slot: OwnedSemaphorePermit,
  pub(super) _load: Option<LoadToken>,
  /// The request's reply timeout (see `Request::timeout`); it runs from `sent_at`.
  pub(super) timeout: Option<Duration>,
  /// When it was completely written.
  pub(super) sent_at: Option<Instant>,
  /// Its reply timeout ran out: the teardown answers it `Timeout`.
  pub(super) timed_out: bool,
}

impl Pending {
  /// Answers the request; its load and its request slot are gone before its caller hears the
  /// answer (a caller that scans again at once finds the slot free).
  pub(super) fn answer(mut self, answer: Answer) {
    let reply = self.answer.take();
    drop(self);
    if let Some(reply) = reply {
      reply.send(answer);
    }
  }

  /// When its reply is due: its timeout after it was sent, or after clamd last sent bytes on the
  /// session, whichever is later (an idle timeout, not a fixed one).
  pub(super) fn reply_due(&self, last_read: Instant) -> Option<Instant> {
    Some(self.sent_at?.max(last_read) + self.timeout?)
  }
}
