//! One IDSESSION connection to clamd: requests are written one after another, up to `PIPELINE`
//! of them awaiting replies at once, while a reader matches clamd's numbered replies
//! (`N: stream: OK`) to them, in whatever order they come.
//!
//! - `requests`: a request's life (its body, its answer, its caller's handle, its pending entry,
//!   its load);
//! - `writer`: the task that owns the connection's lifecycle (connect, write, deadlines, end,
//!   teardown), and `write_now`, which writes a small request from the submitting thread when
//!   the connection is free;
//! - `reader`: the task that reads replies and hands each to its request.
//!
//! The session is one state machine: its `Lifecycle`, its queue, the requests it holds (its
//! load is derived from them), the write side whoever writes holds, and one `Notify` that wakes
//! the writer when something it must act on happened (a request queued, an answer, a kill, an
//! early reply, the reader's end). When anything breaks, the
//! writer hands every unanswered request back to its caller with the body (so the caller can
//! replay it) and the stage it reached, then closes the connection.
//!
//! A reply is taken as a verdict only when it fits: numbered for a request still unanswered (or,
//! unnumbered, clamd's own error when exactly one request is outstanding), of the request's kind
//! (`stream: OK` for INSTREAM, `fd[N]: OK` for FILDES), NUL-terminated, and, to be Clean, sent
//! after the request's last write began. Anything else breaks the session.

mod reader;
mod requests;
mod writer;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

pub use requests::{Answer, Body, Failure, QueueDeadline, Reply, Request, RequestHandle, Stage};
use requests::{LoadToken, Pending};

use crate::cancel::Cancel;
use crate::connector::Connector;
use crate::error::ClamError;

/// Requests one session may have in flight.
pub const PIPELINE: usize = 8;
/// An unused session is ended (`zEND`) after this long, before clamd's own timeouts close it.
const SESSION_IDLE: Duration = Duration::from_secs(5);

/// Open connections across a client, so that `close()` can wait until all are gone.
#[derive(Default)]
pub struct ConnectionCount {
  open: AtomicUsize,
  changed: Notify,
}

impl ConnectionCount {
  pub fn opened(self: &Arc<Self>) -> ConnectionGuard {
    self.open.fetch_add(1, Ordering::SeqCst);
    ConnectionGuard(self.clone())
  }

  pub async fn all_closed(&self) {
    loop {
      let changed = self.changed.notified();
      if self.open.load(Ordering::SeqCst) == 0 {
        return;
      }
      changed.await;
    }
  }
}

/// Held by a session task for as long as its connection exists.
pub struct ConnectionGuard(Arc<ConnectionCount>);

impl Drop for ConnectionGuard {
  fn drop(&mut self) {
    self.0.open.fetch_sub(1, Ordering::SeqCst);
    self.0.changed.notify_waiters();
  }
}

/// Where a session is in its life. It only moves forward (down this list).
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Lifecycle {
  /// Connecting and sending `IDSESSION`: requests queue.
  Connecting = 0,
  /// The writer takes requests as they come.
  Open = 1,
  /// Takes no new request; ends (`zEND`) once those it has are answered.
  Retiring = 2,
  /// Takes no new request; clamd announced it will close the connection (its size limit), and
  /// the replies it sent before are still read.
  Draining = 3,
  /// Ending now: the writer stops and hands back what it holds.
  Closing = 4,
}

impl Lifecycle {
  fn from_u8(v: u8) -> Lifecycle {
    match v {
      0 => Lifecycle::Connecting,
      1 => Lifecycle::Open,
      2 => Lifecycle::Retiring,
      3 => Lifecycle::Draining,
      _ => Lifecycle::Closing,
    }
  }
}

/// The connection's writing end, and what must go out on it in order: whoever holds it writes
/// (the writer task, or a caller writing a small request at once, see `writer::write_now`).
struct WriteSide {
  wr: crate::transport::ConnWrite,
  /// Bytes of complete requests not written yet, in the order of their numbers.
  out: Vec<u8>,
  /// The number of the last request written: clamd numbers replies by the order requests arrive.
  last_id: u64,
}

/// Requests submitted and not yet taken by the writer.
#[derive(Default)]
struct Queue {
  requests: VecDeque<Request>,
  /// The writer is gone: a request submitted now is handed back at once.
  closed: bool,
}

/// What the caller's handle, the writer and the reader share.
struct Shared {
  lifecycle: AtomicU8,
  /// Requests queued or awaiting a reply (see `LoadToken`): the pool's load measure.
  load: Arc<AtomicUsize>,
  pending: Mutex<HashMap<u64, Pending>>,
  queue: Mutex<Queue>,
  /// Set once connected, taken by the teardown.
  write: tokio::sync::Mutex<Option<WriteSide>>,
  /// When the writer's deadline timer fires (ms since `epoch`; `u64::MAX`: not armed), so that
  /// a request written from another thread wakes it only when its own deadline is earlier.
  armed_ms: AtomicU64,
  /// The session is writing a stream: its next requests would wait behind a slow producer.
  streaming: AtomicBool,
  /// clamd answered the request being written before its upload was complete.
  answered_early: AtomicBool,
  /// Wakes the writer: a request was submitted, an answer came, the session is killed or
  /// retired, clamd answered early, or the reader ended (`reader_error`).
  wake: Notify,
  /// Why the reader ended, once it has.
  reader_error: Mutex<Option<ClamError>>,
  /// Why the session could not be opened: what a request submitted too late is answered.
  connect_error: Mutex<Option<ClamError>>,
  idle: Option<Duration>,
  /// When the session was opened, and the last time bytes were read from clamd after it (in ms).
  epoch: tokio::time::Instant,
  last_read_ms: AtomicU64,
  /// When the last request was answered or submitted (in ms since `epoch`).
  last_busy_ms: AtomicU64,
}

impl Shared {
  fn lifecycle(&self) -> Lifecycle {
    Lifecycle::from_u8(self.lifecycle.load(Ordering::SeqCst))
  }

  /// Moves the session forward to `to` (never back); returns whether it moved.
  fn advance(&self, to: Lifecycle) -> bool {
    let mut now = self.lifecycle.load(Ordering::SeqCst);
    loop {
      if now >= to as u8 {
        return false;
      }
      match self
        .lifecycle
        .compare_exchange(now, to as u8, Ordering::SeqCst, Ordering::SeqCst)
      {
        Ok(_) => return true,
        Err(actual) => now = actual,
      }
    }
  }

  /// Ends the session now and wakes the writer.
  fn close(&self) {
    self.advance(Lifecycle::Closing);
    self.wake.notify_one();
  }

  fn since_epoch(&self) -> u64 {
    self.epoch.elapsed().as_millis() as u64
  }

  fn at(&self, ms: u64) -> tokio::time::Instant {
    self.epoch + Duration::from_millis(ms)
  }

  fn busy(&self) {
    self.last_busy_ms.store(self.since_epoch(), Ordering::Relaxed);
  }

  /// No request awaits an answer (abandoned ones count as answered).
  fn is_idle(&self) -> bool {
    self.pending.lock().unwrap().values().all(|p| p.answer.is_none())
  }
}

/// The caller's handle on a session.
pub struct Session {
  shared: Arc<Shared>,
  /// Carries FILDES requests only (see `EndpointPool::session`).
  fildes: bool,
}

impl Session {
  /// Opens a session in the background; requests queue until it is connected.
  pub fn open(
    connector: Arc<Connector>,
    fildes: bool,
    idle: Option<Duration>,
    connections: Arc<ConnectionCount>,
  ) -> Session {
    let shared = Arc::new(Shared {
      lifecycle: AtomicU8::new(Lifecycle::Connecting as u8),
      load: Arc::new(AtomicUsize::new(0)),
      pending: Mutex::new(HashMap::new()),
      queue: Mutex::new(Queue::default()),
      write: tokio::sync::Mutex::new(None),
      armed_ms: AtomicU64::new(u64::MAX),
      streaming: AtomicBool::new(false),
      answered_early: AtomicBool::new(false),
      wake: Notify::new(),
      reader_error: Mutex::new(None),
      connect_error: Mutex::new(None),
      idle,
      epoch: tokio::time::Instant::now(),
      last_read_ms: AtomicU64::new(0),
      last_busy_ms: AtomicU64::new(0),
    });
    tokio::spawn(writer::run(connector, shared.clone(), connections));
    Session { shared, fildes }
  }

  pub fn is_fildes(&self) -> bool {
    self.fildes
  }

  /// Stops taking requests; the session ends (`zEND`) once those it has are answered.
  pub fn retire(&self) {
    if self.shared.advance(Lifecycle::Retiring) {
      // The writer checks at once: an idle session ends now, a busy one on its last answer.
      self.shared.wake.notify_one();
    }
  }

  pub fn load(&self) -> usize {
    self.shared.load.load(Ordering::Relaxed)
  }

  /// When the session was opened.
  pub fn opened_at(&self) -> tokio::time::Instant {
    self.shared.epoch
  }

  /// Whether the pool must not give it new requests.
  pub fn is_dead(&self) -> bool {
    self.shared.lifecycle() >= Lifecycle::Retiring
  }

  pub fn is_streaming(&self) -> bool {
    self.shared.streaming.load(Ordering::Relaxed)
  }

  /// Writes a small request from memory at once when the connection is free, else queues it; if
  /// the session is already gone the request is answered `NotSent` (or, when it never connected,
  /// with its connect failure). Its reply timeout and queue deadline are the session's to keep.
  pub fn submit(self: &Arc<Self>, mut request: Request) -> RequestHandle {
    let handle = RequestHandle {
      session: self.clone(),
      state: request.state.clone(),
    };
    request.load = Some(LoadToken::new(&self.shared.load));
    let request = match writer::write_now(&self.shared, request) {
      Ok(()) => return handle,
      Err(request) => request,
    };
    let refused = {
      let mut queue = self.shared.queue.lock().unwrap();
      if queue.closed {
        Some(request)
      } else {
        queue.requests.push_back(request);
        None
      }
    };
    match refused {
      None => self.shared.wake.notify_one(),
      Some(request) => {
        // The session is gone: a failed connect is this request's connect failure too (not a
        // hang-up: the caller must fail over, and report ECONNREFUSED, not ECONNRESET).
        let connect_error = self.shared.connect_error.lock().unwrap().clone();
        match connect_error {
          Some(error) => request.hand_back(error, Stage::Connect),
          None => request.hand_back(ClamError::HangUp, Stage::NotSent),
        }
      }
    }
    handle
  }

  /// Forgets the caller of a sent request that was aborted: its reply is dropped when it comes.
  /// Its slot stays taken while clamd still works on it, and if no reply comes within its reply
  /// timeout the session is ended (as for any request), so an abandoned request never holds a
  /// slot for good.
  pub fn abandon(&self, cancel: &Arc<Cancel>) {
    let mut pending = self.shared.pending.lock().unwrap();
    if let Some(p) = pending.values_mut().find(|p| Arc::ptr_eq(&p.cancel, cancel)) {
      if let Some(reply) = p.answer.take() {
        reply.discard();
      }
      p.body.take();
      drop(pending);
      // An idle session may start its idle countdown, a retired one end.
      self.shared.wake.notify_one();
    }
  }

  /// Ends the session now (a stuck request, an abort mid-upload, or `close()`); its other
  /// requests are handed back to their callers.
  pub fn kill(&self) {
    self.shared.close();
  }
}

impl Drop for Session {
  /// Nobody can submit to it any more: it ends once what it holds is answered.
  fn drop(&mut self) {
    self.retire();
  }
}
