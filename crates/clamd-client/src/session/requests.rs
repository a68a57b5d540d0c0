//! A request's life inside a session: what it uploads (`Body`), how far it got when it failed
//! (`Stage`), its caller's hold on it (`RequestHandle`), and its entry while it awaits a reply
//! (`Pending`). A request counts towards its session's load for exactly as long as it exists
//! (`LoadToken`), wherever it is dropped.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{oneshot, OwnedSemaphorePermit};

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

// A request's progress, owned by the session; its caller acts on it through a RequestHandle.
pub(super) const QUEUED: u8 = 0;
pub(super) const WRITING: u8 = 1;
pub(super) const SENT: u8 = 2;
/// The caller gave up on it while it was queued (its queue wait ran out): never written.
pub(super) const WITHDRAWN: u8 = 3;

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

  /// Takes back a request that is still queued (its queue wait ran out): true when it will never
  /// be written, false once the writer has it.
  pub fn withdraw(&self) -> bool {
    self
      .state
      .compare_exchange(QUEUED, WITHDRAWN, Ordering::SeqCst, Ordering::SeqCst)
      .is_ok()
  }

  /// When bytes last came from clamd on its session.
  pub fn last_read(&self) -> tokio::time::Instant {
    self.session.last_read()
  }

  /// Ends its session now (a stuck request); the session's other requests are handed back.
  pub fn kill_session(&self) {
    self.session.kill()
  }
}

pub struct Request {
  pub(super) state: Arc<AtomicU8>,
  pub body: Body,
  pub answer: oneshot::Sender<Answer>,
  /// The caller's abort switch; a queued request whose caller gave up is skipped.
  pub cancel: Arc<Cancel>,
  /// Fired once the request is completely written: its reply timeout starts then.
  pub sent: Option<oneshot::Sender<()>>,
  /// The endpoint-wide request slot, released when the request is answered or dropped.
  pub slot: OwnedSemaphorePermit,
  /// The client's `maxFileSize`: a larger payload is not sent, or its upload stops there.
  pub max_bytes: Option<u64>,
  /// Set by the session that takes it.
  pub(super) load: Option<LoadToken>,
}

impl Request {
  pub fn new(
    body: Body,
    answer: oneshot::Sender<Answer>,
    cancel: Arc<Cancel>,
    sent: oneshot::Sender<()>,
    slot: OwnedSemaphorePermit,
    max_bytes: Option<u64>,
  ) -> Request {
    Request {
      state: Arc::new(AtomicU8::new(QUEUED)),
      body,
      answer,
      cancel,
      sent: Some(sent),
      slot,
      max_bytes,
      load: None,
    }
  }

  /// Answers a request that was never written: its caller may send it elsewhere, body intact.
  /// Its load is gone before its caller hears the answer.
  pub(super) fn hand_back(mut self, error: ClamError, stage: Stage) {
    drop(self.load.take());
    let _ = self.answer.send(Err(Failure {
      error,
      stage,
      body: Some(self.body),
    }));
  }
}

/// A request written (or being written) and not yet answered.
pub(super) struct Pending {
  /// None once the caller abandoned the request (an abort after it was sent): its reply, if
  /// it ever comes, is dropped.
  pub(super) answer: Option<oneshot::Sender<Answer>>,
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
  pub(super) load: Option<LoadToken>,
}

impl Pending {
  /// Answers the request; its load is gone before its caller hears the answer.
  pub(super) fn answer(mut self, answer: Answer) {
    drop(self.load.take());
    if let Some(tx) = self.answer.take() {
      let _ = tx.send(answer);
    }
  }
}
