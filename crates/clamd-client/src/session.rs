//! One IDSESSION connection to clamd: requests are written one after another by a writer, up to
//! `PIPELINE` of them awaiting replies at once, while a reader matches clamd's numbered replies
//! (`N: stream: OK`) to them, in whatever order they come.
//!
//! The writer task owns the connection's lifecycle: when anything breaks it hands every
//! unanswered request back to its caller with the body (so the caller can replay it) and the
//! stage it reached, then closes the connection.
//!
//! A reply is taken as a verdict only when it fits: numbered for a request still unanswered (or,
//! unnumbered, clamd's own error when exactly one request is outstanding), of the request's kind
//! (`stream: OK` for INSTREAM, `fd[N]: OK` for FILDES), NUL-terminated, and, to be Clean, sent
//! after the request's last write began. Anything else breaks the session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit};

use crate::cancel::Cancel;
use crate::error::{ClamError, Op};
use crate::protocol::{self, ErrorReason, ReplyEvent, ReplyReader, RequestKind, ScanReply, Verdict};
use crate::source::Source;
use crate::transport::{self, ConnRead, ConnWrite, Endpoint};

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

/// Requests one session may have in flight.
pub const PIPELINE: usize = 8;
/// An unused session is ended (`zEND`) after this long, before clamd's own timeouts close it.
const SESSION_IDLE: Duration = Duration::from_secs(5);

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
  fn kind(&self) -> RequestKind {
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
const QUEUED: u8 = 0;
const WRITING: u8 = 1;
const SENT: u8 = 2;
/// The caller gave up on it while it was queued (its queue wait ran out): never written.
const WITHDRAWN: u8 = 3;

/// A caller's hold on its request inside a session: what giving up means depends on how far the
/// request got, and the session decides it.
pub struct RequestHandle {
  session: Arc<Session>,
  state: Arc<AtomicU8>,
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
  state: Arc<AtomicU8>,
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
    }
  }
}

struct Pending {
  /// None once the caller abandoned the request (an abort after it was sent): its reply, if
  /// it ever comes, is dropped.
  answer: Option<oneshot::Sender<Answer>>,
  body: Option<Body>,
  kind: RequestKind,
  /// The request's last write (the one with the terminator, or the descriptor) has begun: a
  /// reply that comes before cannot be a verdict on the whole payload.
  complete: bool,
  /// Payload bytes written so far (the file size for FILDES).
  bytes: u64,
  cancel: Arc<Cancel>,
  /// The endpoint-wide request slot, released with the entry (a reply, or the teardown).
  _slot: OwnedSemaphorePermit,
}

impl Pending {
  fn answer(mut self, answer: Answer) {
    if let Some(tx) = self.answer.take() {
      let _ = tx.send(answer);
    }
  }
}

/// Answers a request that was never written: its caller may send it elsewhere, body intact.
fn hand_back(shared: &Shared, request: Request, error: ClamError, stage: Stage) {
  shared.load.fetch_sub(1, Ordering::Relaxed);
  let _ = request.answer.send(Err(Failure {
    error,
    stage,
    body: Some(request.body),
  }));
}

/// Closes the queue and hands back every request still in it.
fn hand_back_queue(shared: &Shared, rx: &mut mpsc::UnboundedReceiver<Request>, error: &ClamError, stage: Stage) {
  rx.close();
  while let Ok(request) = rx.try_recv() {
    shared.waiting.fetch_sub(1, Ordering::SeqCst);
    hand_back(shared, request, error.clone(), stage);
  }
}

/// The caller's handle on a session.
pub struct Session {
  tx: mpsc::UnboundedSender<Request>,
  shared: Arc<Shared>,
  /// Carries FILDES requests only (see `EndpointPool::session`).
  fildes: bool,
}

struct Shared {
  pending: Mutex<HashMap<u64, Pending>>,
  /// Requests queued or awaiting a reply: the pool's load measure.
  load: AtomicUsize,
  dead: AtomicBool,
  /// clamd answered the request being written before its upload was complete.
  early: Notify,
  /// The session is writing a stream: its next requests would wait behind a slow producer.
  streaming: AtomicBool,
  /// Takes no new request and ends once its requests are answered.
  retiring: AtomicBool,
  kill: Notify,
  idle: Option<Duration>,
  /// A request was answered or abandoned: the writer re-checks whether the session is idle.
  answered: Notify,
  /// Requests submitted and not yet taken by the writer.
  waiting: AtomicUsize,
  /// Connected, `IDSESSION` sent: the writer takes requests as they come.
  ready: AtomicBool,
  /// Why the session could not be opened: what a request submitted too late is answered.
  connect_error: Mutex<Option<ClamError>>,
  /// When the session was opened, and the last time bytes were read from clamd after it (in ms).
  epoch: tokio::time::Instant,
  last_read_ms: std::sync::atomic::AtomicU64,
  /// When the last request was answered or submitted (in ms since `epoch`).
  last_busy_ms: std::sync::atomic::AtomicU64,
}

impl Shared {
  fn since_epoch(&self) -> u64 {
    self.epoch.elapsed().as_millis() as u64
  }

  fn at(&self, ms: u64) -> tokio::time::Instant {
    self.epoch + Duration::from_millis(ms)
  }

  fn busy(&self) {
    self.last_busy_ms.store(self.since_epoch(), Ordering::Relaxed);
  }
}

impl Session {
  /// Opens a session in the background; requests queue until it is connected.
  pub fn open(
    endpoint: Endpoint,
    fildes: bool,
    idle: Option<Duration>,
    connect_timeout: Option<Duration>,
    connections: Arc<ConnectionCount>,
    on_connect_error: Box<dyn Fn(&ClamError) + Send + Sync>,
  ) -> Session {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
      pending: Mutex::new(HashMap::new()),
      load: AtomicUsize::new(0),
      dead: AtomicBool::new(false),
      early: Notify::new(),
      streaming: AtomicBool::new(false),
      retiring: AtomicBool::new(false),
      kill: Notify::new(),
      idle,
      answered: Notify::new(),
      waiting: AtomicUsize::new(0),
      ready: AtomicBool::new(false),
      connect_error: Mutex::new(None),
      epoch: tokio::time::Instant::now(),
      last_read_ms: std::sync::atomic::AtomicU64::new(0),
      last_busy_ms: std::sync::atomic::AtomicU64::new(0),
    });
    let task_shared = shared.clone();
    tokio::spawn(async move {
      run(
        endpoint,
        idle,
        connect_timeout,
        rx,
        task_shared,
        connections,
        on_connect_error,
      )
      .await;
    });
    Session { tx, shared, fildes }
  }

  pub fn is_fildes(&self) -> bool {
    self.fildes
  }

  /// Stops taking requests; the session ends (`zEND`) once those it has are answered.
  pub fn retire(&self) {
    self.shared.retiring.store(true, Ordering::SeqCst);
    // Wakes the writer to check at once (an idle session ends now; a busy one on its last answer).
    self.shared.answered.notify_one();
  }

  pub fn load(&self) -> usize {
    self.shared.load.load(Ordering::Relaxed)
  }

  /// Whether the pool must not give it new requests.
  pub fn is_dead(&self) -> bool {
    self.shared.dead.load(Ordering::SeqCst) || self.shared.retiring.load(Ordering::SeqCst)
  }

  /// When bytes last came from clamd on this session (its open time before any did).
  pub fn last_read(&self) -> tokio::time::Instant {
    self.shared.at(self.shared.last_read_ms.load(Ordering::Relaxed))
  }

  pub fn is_streaming(&self) -> bool {
    self.shared.streaming.load(Ordering::Relaxed)
  }

  /// Queues a request; if the session is already gone the request is answered `NotSent`.
  /// Returns its handle, and whether it may have to wait for its turn (other requests ahead of
  /// it, a stream being written, or the session not connected yet): only then does its caller
  /// arm a queue timer.
  pub fn submit(self: &Arc<Self>, request: Request) -> (RequestHandle, bool) {
    let handle = RequestHandle {
      session: self.clone(),
      state: request.state.clone(),
    };
    (handle, self.enqueue(request))
  }

  fn enqueue(&self, request: Request) -> bool {
    self.shared.load.fetch_add(1, Ordering::Relaxed);
    let ahead = self.shared.waiting.fetch_add(1, Ordering::SeqCst);
    let may_wait = ahead > 0 || self.is_streaming() || !self.shared.ready.load(Ordering::SeqCst);
    if let Err(mpsc::error::SendError(request)) = self.tx.send(request) {
      self.shared.waiting.fetch_sub(1, Ordering::SeqCst);
      // The session is gone: a failed connect is this request's connect failure too (not a
      // hang-up: the caller must fail over, and report ECONNREFUSED, not ECONNRESET).
      let connect_error = self.shared.connect_error.lock().unwrap().clone();
      match connect_error {
        Some(error) => hand_back(&self.shared, request, error, Stage::Connect),
        None => hand_back(&self.shared, request, ClamError::HangUp, Stage::NotSent),
      }
      return false;
    }
    may_wait
  }

  /// Forgets the caller of a sent request that was aborted: its reply is dropped when it comes.
  /// Its slot stays taken while clamd still works on it, and if no reply comes within the idle
  /// timeout the session is ended, so an abandoned request never holds a slot for good.
  pub fn abandon(self: &Arc<Self>, cancel: &Arc<Cancel>) {
    {
      let mut pending = self.shared.pending.lock().unwrap();
      let Some(p) = pending.values_mut().find(|p| Arc::ptr_eq(&p.cancel, cancel)) else {
        return;
      };
      p.answer.take();
      p.body.take();
    }
    self.shared.answered.notify_one();
    let Some(idle) = self.shared.idle else { return };
    let session = Arc::downgrade(self);
    let cancel = cancel.clone();
    tokio::spawn(async move {
      tokio::time::sleep(idle).await;
      if let Some(session) = session.upgrade() {
        let still_pending = session
          .shared
          .pending
          .lock()
          .unwrap()
          .values()
          .any(|p| Arc::ptr_eq(&p.cancel, &cancel));
        if still_pending {
          session.kill();
        }
      }
    });
  }

  /// Ends the session now (a stuck request, an abort mid-upload, or `close()`); its other
  /// requests are handed back to their callers.
  pub fn kill(&self) {
    self.shared.dead.store(true, Ordering::Relaxed);
    self.shared.kill.notify_one();
  }
}

#[allow(clippy::too_many_arguments)]
async fn run(
  endpoint: Endpoint,
  idle: Option<Duration>,
  connect_timeout: Option<Duration>,
  mut rx: mpsc::UnboundedReceiver<Request>,
  shared: Arc<Shared>,
  connections: Arc<ConnectionCount>,
  on_connect_error: Box<dyn Fn(&ClamError) + Send + Sync>,
) {
  let _guard = connections.opened();
  let conn = tokio::select! {
    conn = transport::connect(&endpoint, connect_timeout) => conn,
    _ = shared.kill.notified() => Err(ClamError::Closed),
  };
  let conn = match conn {
    Ok(conn) => conn,
    Err(error) => {
      *shared.connect_error.lock().unwrap() = Some(error.clone());
      shared.dead.store(true, Ordering::Relaxed);
      if !matches!(error, ClamError::Closed) {
        on_connect_error(&error);
      }
      hand_back_queue(&shared, &mut rx, &error, Stage::Connect);
      return;
    }
  };
  let (rd, wr) = conn.into_split();
  let reader_done = Arc::new(Notify::new());
  let reader_stop = Arc::new(Notify::new());
  let reader_error: Arc<Mutex<Option<ClamError>>> = Arc::new(Mutex::new(None));
  {
    let shared = shared.clone();
    let done = reader_done.clone();
    let error = reader_error.clone();
    let endpoint = endpoint.clone();
    let stop = reader_stop.clone();
    tokio::spawn(async move {
      let err = tokio::select! {
        err = read_replies(rd, &endpoint, &shared) => err,
        _ = stop.notified() => ClamError::Closed,
      };
      *error.lock().unwrap() = Some(err);
      done.notify_one();
    });
  }
  let error = write_requests(wr, &endpoint, idle, &mut rx, &shared, &reader_done, &reader_error).await;
  // Teardown: nothing more is accepted; every unanswered request goes back to its caller.
  shared.dead.store(true, Ordering::Relaxed);
  let pending: Vec<Pending> = shared.pending.lock().unwrap().drain().map(|(_, p)| p).collect();
  for mut p in pending {
    shared.load.fetch_sub(1, Ordering::Relaxed);
    let body = p.body.take();
    p.answer(Err(Failure {
      error: error.clone(),
      stage: Stage::Sent,
      body,
    }));
  }
  hand_back_queue(&shared, &mut rx, &error, Stage::NotSent);
  // Dropping both halves closes the connection.
  reader_stop.notify_one();
}

/// Reads replies until the connection ends; returns why it ended.
async fn read_replies(mut rd: ConnRead, endpoint: &Endpoint, shared: &Shared) -> ClamError {
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
  shared.load.fetch_sub(1, Ordering::Relaxed);
  shared.busy();
  if now_idle {
    // Only the last answer wakes the writer to start the idle countdown.
    shared.answered.notify_one();
  }
  if !p.complete {
    // clamd answered before it had the whole upload (the size limit, or a broken peer): stop
    // uploading, end the session (its other requests go to a new one). A Clean here would be a
    // verdict on bytes clamd never received.
    shared.dead.store(true, Ordering::SeqCst);
    shared.early.notify_one();
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
    shared.dead.store(true, Ordering::SeqCst);
  }
  let bytes = p.bytes;
  p.answer(Ok((reply, bytes)));
  Ok(())
}

/// How a request's write ended, when nothing failed.
enum Written {
  /// Completely sent; the reply decides.
  Complete,
  /// Over `max_bytes`: answered `too-large`. `on_wire` when part of it was already written,
  /// which leaves the connection in the middle of an upload.
  TooLarge { on_wire: bool },
  /// clamd answered before the upload was complete (see `deliver`).
  AnsweredEarly,
}

/// Records a request's progress in its pending entry, where the reader sees it.
struct Progress<'a> {
  shared: &'a Shared,
  id: u64,
}

impl Progress<'_> {
  fn update(&self, f: impl FnOnce(&mut Pending)) {
    if let Some(p) = self.shared.pending.lock().unwrap().get_mut(&self.id) {
      f(p);
    }
  }

  fn bytes(&self, bytes: u64) {
    self.update(|p| p.bytes = bytes);
  }
}

/// Writes queued requests until the session ends; returns why it ended, as its other requests
/// will hear it (`Closed` when it was ended for one request's sake, so the others are sent again).
async fn write_requests(
  mut wr: ConnWrite,
  endpoint: &Endpoint,
  idle: Option<Duration>,
  rx: &mut mpsc::UnboundedReceiver<Request>,
  shared: &Shared,
  reader_done: &Notify,
  reader_error: &Mutex<Option<ClamError>>,
) -> ClamError {
  let reader_err = || reader_error.lock().unwrap().clone().unwrap_or(ClamError::HangUp);
  if let Err(err) = with_idle(idle, async {
    wr.write_all(&protocol::command("IDSESSION"))
      .await
      .map_err(|e| endpoint.io_error(&e, Op::Write))
  })
  .await
  {
    return err;
  }
  let mut next_id: u64 = 0;
  // One write buffer for the session's life: command, frames and terminator are gathered here.
  let mut out = Vec::with_capacity(2 * protocol::CHUNK_MAX + 16);
  shared.busy();
  shared.ready.store(true, Ordering::SeqCst);
  loop {
    if shared.retiring.load(Ordering::SeqCst) && rx.is_empty() && shared.pending.lock().unwrap().is_empty() {
      // Retired and nothing left: end now (an answer or `retire()` woke us to check).
      shared.dead.store(true, Ordering::SeqCst);
      let _ = wr.write_all(&protocol::command("END")).await;
      return ClamError::Closed;
    }
    let idle_now = is_idle(shared) && rx.is_empty();
    let request = tokio::select! {
      r = rx.recv() => match r {
        Some(r) => {
          shared.waiting.fetch_sub(1, Ordering::SeqCst);
          r
        }
        None => return ClamError::Closed,
      },
      _ = reader_done.notified() => return reader_err(),
      _ = shared.kill.notified() => return ClamError::Closed,
      // Idle: ended SESSION_IDLE after its last request was answered (abandoned ones count as
      // answered). While a reply is awaited, an answer wakes the loop to check again.
      _ = tokio::time::sleep_until(shared.at(shared.last_busy_ms.load(Ordering::Relaxed)) + SESSION_IDLE), if idle_now => {
        if !is_idle(shared) || shared.at(shared.last_busy_ms.load(Ordering::Relaxed)) + SESSION_IDLE > tokio::time::Instant::now() {
          continue;
        }
        shared.dead.store(true, Ordering::Relaxed);
        let _ = wr.write_all(&protocol::command("END")).await;
        return ClamError::Closed;
      }
      // An answer (or `retire()`): the checks above run again.
      _ = shared.answered.notified() => continue,
    };
    // Claimed for writing; a request aborted or withdrawn while queued is dropped unwritten.
    if request.cancel.is_cancelled()
      || request
        .state
        .compare_exchange(QUEUED, WRITING, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
      shared.load.fetch_sub(1, Ordering::Relaxed);
      continue;
    }
    if shared.dead.load(Ordering::SeqCst) {
      // Ending (clamd announced it will close): this request goes back untouched.
      hand_back(shared, request, ClamError::Closed, Stage::NotSent);
      return ClamError::Closed;
    }
    next_id += 1;
    let id = next_id;
    let Request {
      mut body,
      answer,
      state,
      sent,
      slot,
      cancel,
      max_bytes,
    } = request;
    shared.pending.lock().unwrap().insert(
      id,
      Pending {
        answer: Some(answer),
        body: None,
        kind: body.kind(),
        complete: false,
        bytes: 0,
        cancel,
        _slot: slot,
      },
    );
    let streaming = matches!(&body, Body::Instream(s) if s.is_stream());
    shared.streaming.store(streaming, Ordering::Relaxed);
    let progress = Progress { shared, id };
    let written = tokio::select! {
      r = write_body(&mut wr, &mut out, endpoint, idle, &mut body, max_bytes, &progress) => r,
      _ = reader_done.notified() => Err(reader_err()),
      _ = shared.kill.notified() => Err(ClamError::Closed),
      _ = shared.early.notified() => Ok(Written::AnsweredEarly),
    };
    shared.streaming.store(false, Ordering::Relaxed);
    match written {
      Ok(Written::Complete) => {
        state.store(SENT, Ordering::SeqCst);
        if let Some(p) = shared.pending.lock().unwrap().get_mut(&id) {
          p.body = Some(body);
        }
        if let Some(sent) = sent {
          let _ = sent.send(());
        }
      }
      Ok(Written::TooLarge { on_wire }) => {
        if let Some(p) = shared.pending.lock().unwrap().remove(&id) {
          shared.load.fetch_sub(1, Ordering::Relaxed);
          let bytes = p.bytes;
          p.answer(Ok((ScanReply::client_error(ErrorReason::TooLarge), bytes)));
        }
        drop(body); // a stream's producer learns at once that nothing more is read
        if on_wire {
          // clamd is in the middle of an upload that must not be completed.
          return ClamError::Closed;
        }
      }
      Ok(Written::AnsweredEarly) => return ClamError::Closed,
      Err(error) if error.is_payload_error() => {
        // The payload failed mid-request: clamd cannot be told to drop it, so the session ends.
        if let Some(p) = shared.pending.lock().unwrap().remove(&id) {
          shared.load.fetch_sub(1, Ordering::Relaxed);
          p.answer(Err(Failure {
            error,
            stage: Stage::Final,
            body: None,
          }));
        }
        return ClamError::Closed;
      }
      Err(error) => {
        // Give the body back: an early reply (the size limit) may still be read, and a
        // replayable body can be sent again.
        if let Some(p) = shared.pending.lock().unwrap().get_mut(&id) {
          p.body = Some(body);
        }
        // Let the reader collect a reply clamd sent before it closed (the size limit).
        if reader_error.lock().unwrap().is_none() {
          let _ = tokio::time::timeout(Duration::from_millis(500), reader_done.notified()).await;
        }
        return error;
      }
    }
  }
}

/// No request awaits an answer.
fn is_idle(shared: &Shared) -> bool {
  shared.pending.lock().unwrap().values().all(|p| p.answer.is_none())
}

/// Writes one request (command and payload).
async fn write_body(
  wr: &mut ConnWrite,
  out: &mut Vec<u8>,
  endpoint: &Endpoint,
  idle: Option<Duration>,
  body: &mut Body,
  max_bytes: Option<u64>,
  progress: &Progress<'_>,
) -> Result<Written, ClamError> {
  let write_err = |e: std::io::Error| endpoint.io_error(&e, Op::Write);
  match body {
    Body::Fildes { file, path } => {
      // Sized on the descriptor now: what clamd will be handed.
      let size = file.metadata().map_err(|e| ClamError::file(&e, Op::Fstat, path))?.len();
      // Checked on the open descriptor: what clamd would be handed.
      if max_bytes.is_some_and(|max| size > max) {
        return Ok(Written::TooLarge { on_wire: false });
      }
      let fd = std::os::fd::AsRawFd::as_raw_fd(&**file);
      progress.update(|p| {
        p.bytes = size;
        p.complete = true;
      });
      // As clamdscan does: the command, then the descriptor riding on one dummy byte. clamd
      // refuses a descriptor that arrives together with the bytes of an earlier command.
      with_idle(idle, async {
        wr.write_all(&protocol::command("FILDES")).await.map_err(&write_err)?;
        wr.send_with_fd(&[0], fd).await.map_err(&write_err)
      })
      .await?;
      Ok(Written::Complete)
    }
    Body::File { file, path } => {
      let mut source = Source::file(file.clone(), path.clone());
      write_instream(wr, out, &mut source, idle, max_bytes, progress, write_err).await
    }
    Body::Instream(source) => {
      source.rewind();
      write_instream(wr, out, source, idle, max_bytes, progress, write_err).await
    }
  }
}

async fn write_instream(
  wr: &mut ConnWrite,
  out: &mut Vec<u8>,
  source: &mut Source,
  idle: Option<Duration>,
  max_bytes: Option<u64>,
  progress: &Progress<'_>,
  write_err: impl Fn(std::io::Error) -> ClamError,
) -> Result<Written, ClamError> {
  // Command, frames and terminator are coalesced into writes of about 64 KiB: a small upload
  // is one write, which halves clamd's CPU time per small scan (measured: `npm run bench`).
  out.clear();
  protocol::instream_begin(out);
  let mut total = 0u64;
  let mut on_wire = false;
  loop {
    // Waiting on a slow JS stream counts as idle time too, as it did in pompelmi 1.x; its
    // timeout is the source's error (a stalled upload), not clamd's.
    let n = match idle {
      Some(d) => {
        let next = tokio::time::timeout(d, source.next_frame(out)).await;
        next.unwrap_or_else(|_| Err(source.idle_error(d)))?
      }
      None => source.next_frame(out).await?,
    };
    if n == 0 {
      break;
    }
    total += n as u64;
    if max_bytes.is_some_and(|max| total > max) {
      return Ok(Written::TooLarge { on_wire });
    }
    if out.len() >= protocol::CHUNK_MAX {
      // Counted as the write starts: clamd may answer (its size limit) while it is under way.
      progress.bytes(total);
      on_wire = true;
      with_idle(idle, async { wr.write_all(out).await.map_err(&write_err) }).await?;
      out.clear();
    }
  }
  protocol::instream_end(out);
  progress.update(|p| {
    p.bytes = total;
    p.complete = true;
  });
  with_idle(idle, async { wr.write_all(out).await.map_err(&write_err) }).await?;
  Ok(Written::Complete)
}

/// Bounds one step by the idle timeout: no progress for that long is a timeout.
async fn with_idle<T>(
  idle: Option<Duration>,
  fut: impl std::future::Future<Output = Result<T, ClamError>>,
) -> Result<T, ClamError> {
  match idle {
    Some(d) => tokio::time::timeout(d, fut)
      .await
      .unwrap_or(Err(ClamError::Timeout(d.as_millis() as u64))),
    None => fut.await,
  }
}
