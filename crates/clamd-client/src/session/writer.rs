//! The writer: the task that owns a session's connection. It connects, sends `IDSESSION`, writes
//! queued requests one after another, ends the session (`zEND`) when it is idle or retired, and
//! on any end hands every request it still holds back to its caller.
//!
//! Small requests from memory that queue up together go out in one write (clamd reads them one
//! after another all the same): a burst of small scans costs a system call, not one each. What
//! was gathered is written before the writer waits for anything else.
//!
//! It also keeps the session's deadlines (`Deadlines`): each sent request's reply timeout, and
//! each queued request's queue deadline.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, Sleep};

use super::requests::{Pending, SENT, WRITING};
use super::{reader, Body, ConnectionCount, Failure, Lifecycle, Request, Shared, Stage, WriteSide, SESSION_IDLE};
use crate::connector::Connector;
use crate::error::{ClamError, Op};
use crate::protocol::{self, ErrorReason, ScanReply};
use crate::source::Source;
use crate::transport::{ConnWrite, Endpoint, Reading};

pub(super) async fn run(connector: Arc<Connector>, shared: Arc<Shared>, connections: Arc<ConnectionCount>) {
  let _guard = connections.opened();
  let endpoint = &connector.endpoint;
  let mut deadlines = Deadlines::new(shared.clone());
  let connect = connector.connect();
  tokio::pin!(connect);
  let conn = loop {
    tokio::select! {
      conn = &mut connect => break conn,
      _ = shared.wake.notified() => {
        if shared.lifecycle() == Lifecycle::Closing {
          break Err(ClamError::Closed);
        }
        // A request queued meanwhile: its queue deadline may fall due before the connection opens.
        deadlines.watch_queue();
      }
      _ = deadlines.fired() => {
        deadlines.check();
      }
    }
  };
  let conn = match conn {
    Ok(conn) => conn,
    Err(error) => {
      // Every queued request gets the connect failure (`Stage::Connect`): the client's policy
      // marks the endpoint down and fails over.
      *shared.connect_error.lock().unwrap() = Some(error.clone());
      shared.advance(Lifecycle::Closing);
      hand_back_queue(&shared, &error, Stage::Connect);
      return;
    }
  };
  let (reading, wr) = match conn.split(connector.reply_watcher.is_some()) {
    Ok(split) => split,
    Err(err) => {
      let error = endpoint.io_error(&err, Op::Connect);
      *shared.connect_error.lock().unwrap() = Some(error.clone());
      shared.advance(Lifecycle::Closing);
      hand_back_queue(&shared, &error, Stage::Connect);
      return;
    }
  };
  let reader = match reading {
    Reading::Runtime(rd) => {
      let shared = shared.clone();
      let connector = connector.clone();
      Reader::Task(tokio::spawn(async move {
        let endpoint = &connector.endpoint;
        let err = reader::read_replies(rd, endpoint, &shared).await;
        *shared.reader_error.lock().unwrap() = Some(err);
        shared.wake.notify_one();
      }))
    }
    #[cfg(unix)]
    Reading::Elsewhere(fd) => {
      let replies = Arc::new(reader::WatchedReplies::new(shared.clone(), endpoint.clone()));
      let watcher = connector.reply_watcher.as_ref().expect("asked for");
      if watcher.watch(fd, replies.clone()).is_err() {
        // The watcher's thread is gone (its JS environment is ending): nobody would hear clamd.
        replies.unwatched();
      }
      deadlines.replies = wr.watched_fd().map(|fd| (replies.clone(), fd));
      Reader::Watched(replies)
    }
  };
  let error = write_requests(wr, endpoint, &shared, &mut deadlines).await;
  // Teardown: nothing more is accepted, and once the write side is taken nothing more is written
  // (a write from another thread checks the lifecycle holding it); every unanswered request goes
  // back to its caller (a request whose reply timeout ran out, with its timeout).
  shared.advance(Lifecycle::Closing);
  let write_side = shared.write.lock().await.take();
  let error = tls_cause(endpoint, &shared, error).await;
  let pending: Vec<Pending> = shared.pending.lock().unwrap().drain().map(|(_, p)| p).collect();
  for mut p in pending {
    let body = p.body.take();
    let error = match (p.timed_out, p.timeout) {
      (true, Some(d)) => ClamError::Timeout(d.as_millis() as u64),
      _ => error.clone(),
    };
    p.answer(Err(Failure {
      error,
      stage: Stage::Sent,
      body,
    }));
  }
  hand_back_queue(&shared, &error, Stage::NotSent);
  // Dropping both halves closes the connection (a watched socket is shut down, so its watcher
  // sees the end and closes its own descriptor).
  deadlines.replies = None;
  match reader {
    Reader::Task(task) => task.abort(),
    #[cfg(unix)]
    Reader::Watched(replies) => replies.stop(),
  }
  drop(write_side);
}

/// Who reads the session's replies (see `reader`).
enum Reader {
  Task(tokio::task::JoinHandle<()>),
  #[cfg(unix)]
  Watched(Arc<reader::WatchedReplies>),
}

/// Closes the queue and hands back every request still in it.
fn hand_back_queue(shared: &Shared, error: &ClamError, stage: Stage) {
  let requests = {
    let mut queue = shared.queue.lock().unwrap();
    queue.closed = true;
    std::mem::take(&mut queue.requests)
  };
  for request in requests {
    request.hand_back(error.clone(), stage);
  }
}

/// The session's one timer: the earliest of its sent requests' reply deadlines and its queued
/// requests' queue deadlines. It is only ever moved earlier (a request sent with a later
/// deadline costs nothing); when it fires, what is due is acted on and it is set again from
/// what is left. When it fires is mirrored in `Shared::armed_ms`.
struct Deadlines {
  timer: Pin<Box<Sleep>>,
  armed: Option<Instant>,
  shared: Arc<Shared>,
  /// Replies read off the runtime, and the socket: read here before a reply deadline is judged,
  /// in case their thread is busy (a reply sitting unread is not a timeout).
  #[cfg(unix)]
  replies: Option<(Arc<reader::WatchedReplies>, std::os::fd::RawFd)>,
}

impl Deadlines {
  fn new(shared: Arc<Shared>) -> Deadlines {
    Deadlines {
      timer: Box::pin(tokio::time::sleep_until(Instant::now())),
      armed: None,
      shared,
      #[cfg(unix)]
      replies: None,
    }
  }

  fn arm(&mut self, at: Instant) {
    if self.armed.is_none_or(|armed| at < armed) {
      self.timer.as_mut().reset(at);
      self.armed = Some(at);
      let ms = at.saturating_duration_since(self.shared.epoch).as_millis() as u64;
      self.shared.armed_ms.store(ms, Ordering::SeqCst);
    }
  }

  fn disarm(&mut self) {
    self.armed = None;
    self.shared.armed_ms.store(u64::MAX, Ordering::SeqCst);
  }

  /// Resolves when the timer fires; never while it is not armed.
  async fn fired(&mut self) {
    if self.armed.is_none() {
      return std::future::pending().await;
    }
    self.timer.as_mut().await;
    self.disarm();
  }

  /// Arms the queued requests' queue deadlines: the writer is about to be busy for a while.
  fn watch_queue(&mut self) {
    let shared = self.shared.clone();
    let queue = shared.queue.lock().unwrap();
    for request in &queue.requests {
      if let Some(q) = request.queue_deadline {
        self.arm(q.at);
      }
    }
  }

  /// Arms the sent requests' reply deadlines (some were written from another thread).
  fn watch_sent(&mut self) {
    let shared = self.shared.clone();
    let last_read = shared.at(shared.last_read_ms.load(Ordering::Relaxed));
    for p in shared.pending.lock().unwrap().values() {
      if let Some(due) = p.reply_due(last_read) {
        self.arm(due);
      }
    }
  }

  /// Acts on what is due: a queued request past its queue deadline is answered `QueueTimeout`,
  /// never written; a sent one past its reply deadline ends the session (`Some(Closed)`; the
  /// teardown answers it `Timeout`, and its session's other requests go elsewhere).
  fn check(&mut self) -> Option<ClamError> {
    let shared = self.shared.clone();
    #[cfg(unix)]
    if let Some((replies, fd)) = &self.replies {
      replies.read_now(*fd);
    }
    let now = Instant::now();
    self.disarm();
    let expired: std::collections::VecDeque<Request> = {
      let mut queue = shared.queue.lock().unwrap();
      let (expired, kept) = std::mem::take(&mut queue.requests)
        .into_iter()
        .partition(|r| r.queue_deadline.is_some_and(|q| q.at <= now));
      queue.requests = kept;
      expired
    };
    for request in expired {
      let ms = request.queue_deadline.map_or(0, |q| q.ms);
      request.queue_expired(ms);
    }
    self.watch_queue();
    let last_read = shared.at(shared.last_read_ms.load(Ordering::Relaxed));
    let mut timed_out = false;
    for p in shared.pending.lock().unwrap().values_mut() {
      match p.reply_due(last_read) {
        Some(due) if due <= now => {
          p.timed_out = true;
          timed_out = true;
        }
        Some(due) => self.arm(due),
        None => {}
      }
    }
    timed_out.then_some(ClamError::Closed)
  }
}

/// Runs one write step while answers, the session's end and its deadlines are watched: `None`
/// when clamd answered the request being written before its upload was complete.
async fn drive<T>(
  shared: &Shared,
  deadlines: &mut Deadlines,
  step: impl std::future::Future<Output = Result<T, ClamError>>,
) -> Option<Result<T, ClamError>> {
  let mut step = std::pin::pin!(step);
  if let Some(done) = at_once(step.as_mut()).await {
    return Some(done);
  }
  // It waits (clamd is not reading, a stream is slow): the queued requests' deadlines count.
  deadlines.watch_queue();
  loop {
    tokio::select! {
      r = &mut step => return Some(r),
      _ = shared.wake.notified() => {
        if shared.answered_early.load(Ordering::SeqCst) {
          return None;
        }
        if let Some(err) = stop_reason(shared) {
          return Some(Err(err));
        }
        // An answer to an earlier request, or a request queued meanwhile: keep writing.
        deadlines.watch_queue();
      }
      _ = deadlines.fired() => {
        if let Some(err) = deadlines.check() {
          return Some(Err(err));
        }
      }
    }
  }
}

/// Waits, at most 500 ms, for the reader to end (after a write failed: what clamd or the TLS
/// peer sent before closing is still to be read).
async fn wait_for_reader(shared: &Shared) {
  let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
  while shared.reader_error.lock().unwrap().is_none() {
    if tokio::time::timeout_at(deadline, shared.wake.notified()).await.is_err() {
      return;
    }
  }
}

/// A write that failed on a TLS connection (EPIPE, a reset) because the peer refused us after the
/// handshake (a TLS 1.3 server checks the client certificate then) has its cause in the alert the
/// peer sent before closing: the reader's TLS error, with Node's code, once it has read it.
async fn tls_cause(endpoint: &Endpoint, shared: &Shared, error: ClamError) -> ClamError {
  if !matches!(endpoint, Endpoint::Tls { .. }) || !matches!(error, ClamError::Os { op: Op::Write, .. }) {
    return error;
  }
  wait_for_reader(shared).await;
  match shared.reader_error.lock().unwrap().clone() {
    Some(tls @ ClamError::Tls { .. }) => tls,
    _ => error,
  }
}

/// Why the writer was woken, if it must stop: the reader's end, or the session's.
fn stop_reason(shared: &Shared) -> Option<ClamError> {
  if let Some(err) = shared.reader_error.lock().unwrap().clone() {
    return Some(err);
  }
  (shared.lifecycle() == Lifecycle::Closing).then_some(ClamError::Closed)
}

/// How a request's write ended, when nothing failed.
enum Written {
  /// Completely sent; the reply decides.
  Complete,
  /// Over `max_bytes`: answered `too-large`. `on_wire` when part of it was already written,
  /// which leaves the connection in the middle of an upload.
  TooLarge { on_wire: bool },
  /// clamd answered before the upload was complete (see `reader::deliver`).
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
/// The write side is held while a request is written and given up while the writer waits, so
/// that a small request can be written at once from its caller's thread (`write_now`).
async fn write_requests(
  mut wr: ConnWrite,
  endpoint: &Endpoint,
  shared: &Shared,
  deadlines: &mut Deadlines,
) -> ClamError {
  let idle = shared.idle;
  let write_err = |e: std::io::Error| endpoint.io_error(&e, Op::Write);
  if let Err(err) = with_idle(idle, async {
    wr.write_all(&protocol::command("IDSESSION")).await.map_err(write_err)
  })
  .await
  {
    return err;
  }
  // One write buffer for the session's life: commands, frames and terminators are gathered here.
  *shared.write.lock().await = Some(WriteSide {
    wr,
    out: Vec::with_capacity(2 * protocol::CHUNK_MAX + 16),
    last_id: 0,
  });
  shared.busy();
  shared.advance(Lifecycle::Open);
  loop {
    if let Some(err) = stop_reason(shared) {
      return err;
    }
    let mut guard = shared.write.lock().await;
    let WriteSide { wr, out, last_id } = guard.as_mut().expect("set when connected");
    let next = shared.queue.lock().unwrap().requests.pop_front();
    let Some(request) = next else {
      // Nothing more to take: what was gathered (or left by a write from another thread) goes
      // out before the writer waits.
      if !out.is_empty() {
        if let Err(err) = flush(wr, out, idle, shared, deadlines, &write_err).await {
          wait_for_reader(shared).await;
          return err;
        }
        continue;
      }
      if shared.lifecycle() == Lifecycle::Retiring && shared.pending.lock().unwrap().is_empty() {
        let _ = wr.write_all(&protocol::command("END")).await;
        return ClamError::Closed;
      }
      drop(guard);
      let idle_now = shared.is_idle();
      let idle_until = shared.at(shared.last_busy_ms.load(Ordering::Relaxed)) + SESSION_IDLE;
      tokio::select! {
        // A request, an answer, or a request written from another thread whose reply deadline
        // is the earliest: the loop's checks run again.
        _ = shared.wake.notified() => deadlines.watch_sent(),
        _ = deadlines.fired() => {
          if let Some(err) = deadlines.check() {
            return err;
          }
        }
        // Idle: ended SESSION_IDLE after its last request was answered (abandoned ones count as
        // answered). The timer is made only when idle (a disabled branch's future is still built).
        _ = async { tokio::time::sleep_until(idle_until).await }, if idle_now => {
          // Checked again holding the write side: nothing can be written meanwhile.
          let mut guard = shared.write.lock().await;
          let busy_until = shared.at(shared.last_busy_ms.load(Ordering::Relaxed)) + SESSION_IDLE;
          if !shared.is_idle() || !shared.queue.lock().unwrap().requests.is_empty() || busy_until > Instant::now() {
            continue;
          }
          shared.advance(Lifecycle::Closing);
          if let Some(side) = guard.as_mut() {
            let _ = side.wr.write_all(&protocol::command("END")).await;
          }
          return ClamError::Closed;
        }
      }
      continue;
    };
    // A request whose caller aborted while it was queued is dropped unwritten (its load goes
    // with it).
    if request.cancel.is_cancelled() {
      continue;
    }
    if shared.lifecycle() >= Lifecycle::Draining {
      // Ending (clamd announced it will close): this request goes back untouched.
      request.hand_back(ClamError::Closed, Stage::NotSent);
      return ClamError::Closed;
    }
    request.state.store(WRITING, Ordering::SeqCst);
    *last_id += 1;
    let id = *last_id;
    let (pending, mut body, state, max_bytes) = request.into_pending();
    let timeout = pending.timeout;
    shared.pending.lock().unwrap().insert(id, pending);
    let in_memory = matches!(&body, Body::Instream(s) if !s.is_stream());
    let streaming = matches!(&body, Body::Instream(s) if s.is_stream());
    shared.streaming.store(streaming, Ordering::Relaxed);
    // What was gathered goes out before a body that may make the writer wait (a stream, a file),
    // or that must travel on its own (a descriptor).
    if !in_memory && !out.is_empty() {
      if let Err(err) = flush(wr, out, idle, shared, deadlines, &write_err).await {
        if let Some(p) = shared.pending.lock().unwrap().get_mut(&id) {
          p.body = Some(body);
        }
        wait_for_reader(shared).await;
        return err;
      }
    }
    // A small request from memory with more queued behind it stays in `out`, to go out with them.
    let gather = in_memory && !shared.queue.lock().unwrap().requests.is_empty();
    let progress = Progress { shared, id };
    let write = write_body(wr, out, endpoint, idle, &mut body, max_bytes, &progress, gather);
    let written = drive(shared, deadlines, write)
      .await
      .unwrap_or(Ok(Written::AnsweredEarly));
    shared.streaming.store(false, Ordering::Relaxed);
    match written {
      Ok(Written::Complete) => {
        state.store(SENT, Ordering::SeqCst);
        let now = Instant::now();
        if let Some(p) = shared.pending.lock().unwrap().get_mut(&id) {
          p.body = Some(body);
          p.sent_at = Some(now);
        }
        if let Some(d) = timeout {
          deadlines.arm(now + d);
        }
      }
      Ok(Written::TooLarge { on_wire }) => {
        let removed = shared.pending.lock().unwrap().remove(&id);
        if let Some(p) = removed {
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
        let removed = shared.pending.lock().unwrap().remove(&id);
        if let Some(p) = removed {
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
        wait_for_reader(shared).await;
        return error;
      }
    }
  }
}

/// Writes a small request from memory at once, from the thread that submits it, when the
/// connection is free: the session open, nothing queued, nothing being written. The writer task
/// is not woken for it (against a real clamd, waking the runtime's thread to write each request
/// cost more CPU than the write itself), unless the socket did not take it all (the writer
/// writes the rest) or its reply deadline is earlier than the writer's timer. Gives the request
/// back when it must queue.
pub(super) fn write_now(shared: &Shared, request: Request) -> Result<(), Request> {
  let size = match &request.body {
    Body::Instream(source) => match source.as_bytes() {
      Some(bytes) if bytes.len() <= protocol::CHUNK_MAX => bytes.len(),
      _ => return Err(request),
    },
    _ => return Err(request),
  };
  if request.max_bytes.is_some_and(|max| size as u64 > max) || request.cancel.is_cancelled() {
    return Err(request);
  }
  let Ok(mut guard) = shared.write.try_lock() else {
    return Err(request);
  };
  let Some(WriteSide { wr, out, last_id }) = guard.as_mut() else {
    return Err(request);
  };
  // Checked holding the write side: the teardown and the idle end take it before they close.
  if shared.lifecycle() != Lifecycle::Open
    || !wr.writes_at_once()
    || !out.is_empty()
    || !shared.queue.lock().unwrap().requests.is_empty()
  {
    return Err(request);
  }
  let (mut pending, body, state, _) = request.into_pending();
  let Body::Instream(source) = &body else {
    unreachable!("checked above")
  };
  protocol::instream_begin(out);
  if size > 0 {
    protocol::instream_chunk(out, source.as_bytes().expect("checked above"));
  }
  protocol::instream_end(out);
  *last_id += 1;
  let now = Instant::now();
  let timeout = pending.timeout;
  pending.body = Some(body);
  pending.complete = true;
  pending.bytes = size as u64;
  pending.sent_at = Some(now);
  state.store(SENT, Ordering::SeqCst);
  shared.pending.lock().unwrap().insert(*last_id, pending);
  // What the socket does not take (or a failed write, which the writer meets again) is left in
  // `out` for the writer.
  let written = wr.try_write(out).unwrap_or(0);
  out.drain(..written);
  let due_ms = timeout.map(|d| (now + d).saturating_duration_since(shared.epoch).as_millis() as u64);
  let wake = !out.is_empty() || due_ms.is_some_and(|due| due < shared.armed_ms.load(Ordering::SeqCst));
  drop(guard);
  if wake {
    shared.wake.notify_one();
  }
  Ok(())
}

/// Writes what was gathered in `out` (complete requests only).
async fn flush(
  wr: &mut ConnWrite,
  out: &mut Vec<u8>,
  idle: Option<Duration>,
  shared: &Shared,
  deadlines: &mut Deadlines,
  write_err: &impl Fn(std::io::Error) -> ClamError,
) -> Result<(), ClamError> {
  let write = with_idle(idle, async { wr.write_all(out).await.map_err(write_err) });
  // Every gathered request is complete: an answer cannot come early here.
  drive(shared, deadlines, write)
    .await
    .unwrap_or(Err(ClamError::Closed))?;
  out.clear();
  Ok(())
}

/// Writes one request (command and payload). `gather`: a request from memory may be left whole in
/// `out`, to go out with the requests after it.
#[allow(clippy::too_many_arguments)]
async fn write_body(
  wr: &mut ConnWrite,
  out: &mut Vec<u8>,
  endpoint: &Endpoint,
  idle: Option<Duration>,
  body: &mut Body,
  max_bytes: Option<u64>,
  progress: &Progress<'_>,
  gather: bool,
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
      write_instream(wr, out, &mut source, idle, max_bytes, progress, write_err, false).await
    }
    Body::Instream(source) => {
      source.rewind();
      write_instream(wr, out, source, idle, max_bytes, progress, write_err, gather).await
    }
  }
}

#[allow(clippy::too_many_arguments)]
async fn write_instream(
  wr: &mut ConnWrite,
  out: &mut Vec<u8>,
  source: &mut Source,
  idle: Option<Duration>,
  max_bytes: Option<u64>,
  progress: &Progress<'_>,
  write_err: impl Fn(std::io::Error) -> ClamError,
  gather: bool,
) -> Result<Written, ClamError> {
  // Command, frames and terminator are coalesced into writes of about 64 KiB: a small upload
  // is one write, which halves clamd's CPU time per small scan (measured: `npm run bench`).
  // `out` may already hold earlier requests, gathered: they go out with this one's first write.
  let start = out.len();
  protocol::instream_begin(out);
  let mut total = 0u64;
  let mut on_wire = false;
  loop {
    // Waiting on a slow JS stream counts as idle time too, as it did in pompelmi 1.x; its
    // timeout is the source's error (a stalled upload), not clamd's.
    let n = match idle {
      Some(d) => {
        let next = {
          let mut next = std::pin::pin!(source.next_frame(out));
          match at_once(next.as_mut()).await {
            Some(n) => Ok(n),
            None => tokio::time::timeout(d, next).await,
          }
        };
        next.unwrap_or_else(|_| Err(source.idle_error(d)))?
      }
      None => source.next_frame(out).await?,
    };
    if n == 0 {
      break;
    }
    total += n as u64;
    if max_bytes.is_some_and(|max| total > max) {
      if !on_wire {
        // None of it went out: the gathered requests before it still do.
        out.truncate(start);
      }
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
  if !gather || out.len() >= protocol::CHUNK_MAX {
    with_idle(idle, async { wr.write_all(out).await.map_err(&write_err) }).await?;
    out.clear();
  }
  Ok(Written::Complete)
}

/// Bounds one step by the idle timeout: no progress for that long is a timeout.
async fn with_idle<T>(
  idle: Option<Duration>,
  fut: impl std::future::Future<Output = Result<T, ClamError>>,
) -> Result<T, ClamError> {
  let Some(d) = idle else { return fut.await };
  let mut fut = std::pin::pin!(fut);
  match at_once(fut.as_mut()).await {
    Some(done) => done,
    None => tokio::time::timeout(d, fut)
      .await
      .unwrap_or(Err(ClamError::Timeout(d.as_millis() as u64))),
  }
}

/// Polls `fut` once: its output if it is ready at once, else `None` (its waker is registered, so
/// it can go on being polled). Most steps are (a small write, a frame from memory), and a
/// timer armed and cancelled for each was a measurable part of a small scan's CPU.
async fn at_once<F: std::future::Future>(mut fut: std::pin::Pin<&mut F>) -> Option<F::Output> {
  std::future::poll_fn(|cx| {
    std::task::Poll::Ready(match fut.as_mut().poll(cx) {
      std::task::Poll::Ready(out) => Some(out),
      std::task::Poll::Pending => None,
    })
  })
  .await
}
