//! The client: endpoints, the choice among them, and what a call does when something fails.
//!
//! - A connection failure marks the endpoint down and the call moves to another endpoint at once
//!   (failover); when none is left, `retries` decide, with `retry_delay` between rounds.
//! - A session that breaks under a request (a reset, a hang-up, a reply that breaks the protocol)
//!   sends it to another healthy endpoint at once; with none, it is replayed once on a new
//!   session of the same endpoint, whether or not the broken session had answered anything.
//! - A session ended for another request's sake (its timeout, its abort, an early reply) sends
//!   its other requests again at once; that is no failure of theirs and costs no replay.
//! - Other failures (timeouts, a second break) follow `retries` when the input can be sent
//!   again; a reply, whatever it says, is never retried.
//! - A payload over `max_file_size` is not sent: clamd would skip it and answer OK.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, Notify};

use crate::error::ClamError;
use crate::pool::{ConnectionCount, EndpointPool};
use crate::protocol::{self, ErrorReason, ReplyEvent, ReplyReader, ScanReply};
use crate::session::{self, Body, Failure, Request, Session, Stage};
use crate::source::{SharedBytes, Source};
use crate::transport::{self, Endpoint};

#[derive(Debug, Clone)]
pub struct ClientConfig {
  pub endpoints: Vec<Endpoint>,
  /// Idle timeout: connect, each write, and the wait for a reply once a request is sent.
  pub idle_timeout: Option<Duration>,
  pub retries: u32,
  pub retry_delay: Duration,
  pub max_connections: usize,
  /// Pass regular files to UNIX-socket endpoints as descriptors (FILDES).
  pub fdpass: bool,
  /// Payloads larger than this are ScanError `too-large` (clamd's `MaxFileSize`, default
  /// 100 MiB, makes it skip them and answer OK). `None`: no guard.
  pub max_file_size: Option<u64>,
}

/// What to scan.
pub enum Payload {
  Buffer(SharedBytes),
  File(String),
  /// A JS stream: replayable only within its kept first bytes.
  Stream(Source),
}

#[derive(Debug, Clone)]
pub struct ScanOutcome {
  pub reply: ScanReply,
  /// None when no endpoint was asked (a payload over `max_file_size`).
  pub endpoint: Option<Endpoint>,
  /// Payload bytes clamd received (the file size for FILDES).
  pub bytes: u64,
  pub duration: Duration,
}

/// A failed call, with the endpoint it failed on.
#[derive(Debug, Clone)]
pub struct CallError {
  pub error: ClamError,
  pub endpoint: Option<Endpoint>,
}

/// A call's abort switch, flipped from JS (`AbortSignal`).
#[derive(Default)]
pub struct Cancel {
  flag: AtomicBool,
  notify: Notify,
}

impl Cancel {
  pub fn cancel(&self) {
    self.flag.store(true, Ordering::SeqCst);
    self.notify.notify_waiters();
  }

  pub fn is_cancelled(&self) -> bool {
    self.flag.load(Ordering::SeqCst)
  }

  pub async fn cancelled(&self) {
    loop {
      let notified = self.notify.notified();
      if self.is_cancelled() {
        return;
      }
      notified.await;
    }
  }
}

/// Per-call settings.
#[derive(Default)]
pub struct CallOptions {
  /// Overrides the client's idle timeout for this call's reply.
  pub timeout: Option<Option<Duration>>,
  pub cancel: Arc<Cancel>,
}

/// The request of a call currently inside a session, for aborts and timeouts.
struct InFlight {
  session: Arc<Session>,
  state: Arc<AtomicU8>,
}

pub struct Client {
  config: ClientConfig,
  pools: Vec<Arc<EndpointPool>>,
  connections: Arc<ConnectionCount>,
  closed: AtomicBool,
  rotation: AtomicUsize,
}

/// What a call sends, rebuilt for each attempt (the body differs between TCP and UNIX endpoints).
enum Input {
  Buffer(SharedBytes),
  File { path: String, regular: bool },
  Stream(Option<Source>),
}

impl Input {
  /// What a payload becomes for the attempts, with its size where it is known before sending.
  fn from_payload(payload: Payload) -> (Input, Option<u64>) {
    match payload {
      Payload::Buffer(bytes) => {
        let size = (*bytes).as_ref().len() as u64;
        (Input::Buffer(bytes), Some(size))
      }
      Payload::File(path) => {
        let regular = std::fs::metadata(&path).ok().filter(|m| m.is_file());
        let size = regular.as_ref().map(|m| m.len());
        (
          Input::File {
            path,
            regular: regular.is_some(),
          },
          size,
        )
      }
      Payload::Stream(s) => (Input::Stream(Some(s)), None),
    }
  }

  fn body_for(&mut self, endpoint: &Endpoint, fdpass: bool) -> Option<Body> {
    match self {
      Input::Buffer(bytes) => Some(Body::Instream(Source::buffer(bytes.clone()))),
      Input::File { path, regular } if *regular && fdpass && endpoint.is_unix() => Some(Body::Fildes(path.clone())),
      Input::File { path, .. } => Some(Body::File(path.clone())),
      Input::Stream(source) => source.take().map(Body::Instream),
    }
  }

  /// Takes back what a failed attempt returned, if it can still be replayed.
  fn give_back(&mut self, body: Option<Body>) {
    if let (Input::Stream(slot), Some(Body::Instream(source))) = (self, body) {
      if source.replayable() {
        *slot = Some(source);
      }
    }
  }
}

impl Client {
  pub fn new(config: ClientConfig) -> Self {
    let connections = Arc::new(ConnectionCount::default());
    let pools = config
      .endpoints
      .iter()
      .map(|e| {
        EndpointPool::new(
          e.clone(),
          config.idle_timeout,
          config.max_connections,
          connections.clone(),
        )
      })
      .collect();
    Client {
      config,
      pools,
      connections,
      closed: AtomicBool::new(false),
      rotation: AtomicUsize::new(0),
    }
  }

  /// The endpoint for the next attempt: the healthy one with the fewest outstanding requests,
  /// skipping those that already failed in this round. When all are down, the down ones are
  /// still tried (a single endpoint is never skipped).
  fn pick(&self, excluded: &[usize]) -> Option<usize> {
    // Ties go round-robin, so that a burst of calls does not all land on the first endpoint.
    let n = self.pools.len();
    let start = self.rotation.fetch_add(1, Ordering::Relaxed) % n;
    let candidates = || (0..n).map(|k| (start + k) % n).filter(|i| !excluded.contains(i));
    candidates()
      .filter(|&i| !self.pools[i].is_down())
      .min_by_key(|&i| self.pools[i].outstanding())
      .or_else(|| candidates().min_by_key(|&i| self.pools[i].outstanding()))
  }

  /// Whether an endpoint other than `index`, not yet failed in this round, is healthy.
  fn has_alternative(&self, excluded: &[usize], index: usize) -> bool {
    (0..self.pools.len()).any(|i| i != index && !excluded.contains(&i) && !self.pools[i].is_down())
  }

  pub async fn scan(&self, payload: Payload, call: &CallOptions) -> Result<ScanOutcome, CallError> {
    let started = Instant::now();
    let in_flight: Mutex<Option<InFlight>> = Mutex::new(None);
    let work = self.scan_attempts(payload, call, &in_flight, started);
    tokio::select! {
      // Cancellation first: an aborted call must not take a slot freed by its own abort.
      biased;
      _ = call.cancel.cancelled() => {
        // Queued: skipped by the session. Being written: the session must end, as INSTREAM
        // cannot be cut short. Sent: its slot is freed now and its reply dropped when it comes.
        if let Some(f) = in_flight.lock().unwrap().take() {
          match f.state.load(Ordering::SeqCst) {
            session::WRITING => f.session.kill(),
            session::SENT => f.session.abandon(&call.cancel),
            _ => {}
          }
        }
        Err(CallError { error: ClamError::Aborted, endpoint: None })
      }
      result = work => result,
    }
  }

  async fn scan_attempts(
    &self,
    payload: Payload,
    call: &CallOptions,
    in_flight: &Mutex<Option<InFlight>>,
    started: Instant,
  ) -> Result<ScanOutcome, CallError> {
    let (mut input, size) = Input::from_payload(payload);
    if let (Some(max), Some(size)) = (self.config.max_file_size, size) {
      if size > max {
        return Ok(ScanOutcome {
          reply: ScanReply::client_error(ErrorReason::TooLarge),
          endpoint: None,
          bytes: 0,
          duration: started.elapsed(),
        });
      }
    }
    let mut retries_left = self.config.retries;
    let mut replayed = false;
    let mut broken_in_round = false;
    let mut resubmits = 0;
    let mut excluded: Vec<usize> = Vec::new();
    let mut last: Option<CallError> = None;
    loop {
      if self.closed.load(Ordering::SeqCst) {
        return Err(CallError {
          error: ClamError::Closed,
          endpoint: None,
        });
      }
      let Some(index) = self.pick(&excluded) else {
        // Every endpoint failed in this round.
        let err = last.take().expect("a failure ended the round");
        if broken_in_round && !replayed {
          // Sessions broke under the request (all clamd restarted at once, say): a broken
          // session is not a dead endpoint, so the round is tried once more on new connections.
          replayed = true;
          broken_in_round = false;
          excluded.clear();
          last = Some(err);
          continue;
        }
        if retries_left == 0 {
          return Err(err);
        }
        retries_left -= 1;
        excluded.clear();
        last = Some(err);
        tokio::time::sleep(self.config.retry_delay).await;
        continue;
      };
      let pool = &self.pools[index];
      let Some(body) = input.body_for(&pool.endpoint, self.config.fdpass) else {
        return Err(last.expect("a stream is only lost after a failure"));
      };
      let failure = match self.attempt(pool, body, call, in_flight).await {
        Ok((reply, bytes)) => {
          pool.mark_up();
          return Ok(ScanOutcome {
            reply,
            endpoint: Some(pool.endpoint.clone()),
            bytes,
            duration: started.elapsed(),
          });
        }
        Err(failure) => failure,
      };
      let Failure { error, stage, body } = failure;
      input.give_back(body);
      let can_resend = !matches!(&input, Input::Stream(None));
      let err = CallError {
        error: error.clone(),
        endpoint: Some(pool.endpoint.clone()),
      };
      if self.closed.load(Ordering::SeqCst) {
        return Err(CallError {
          error: ClamError::Closed,
          endpoint: None,
        });
      }
      // The session ended before the request went out, or was ended for another request's sake:
      // nothing is wrong with this one, so it is sent again (bounded, should sessions keep ending).
      let superseded =
        stage == Stage::NotSent || (stage == Stage::Sent && can_resend && matches!(error, ClamError::Closed));
      match stage {
        Stage::Final => return Err(err),
        _ if superseded && resubmits < 16 => {
          resubmits += 1;
          last = Some(err);
        }
        // Failover: another endpoint, at once.
        Stage::Connect => {
          excluded.push(index);
          last = Some(err);
        }
        // The session broke before a verdict: another endpoint, at once, if there is one; else
        // the request is replayed once on a new session of the same endpoint.
        Stage::Sent
          if can_resend && error.breaks_session() && (self.has_alternative(&excluded, index) || !replayed) =>
        {
          if self.has_alternative(&excluded, index) {
            excluded.push(index);
            broken_in_round = true;
          } else {
            replayed = true;
          }
          last = Some(err);
        }
        _ => {
          if retries_left == 0 || !can_resend || !error.is_retryable() {
            return Err(err);
          }
          retries_left -= 1;
          excluded.clear();
          last = Some(err);
          tokio::time::sleep(self.config.retry_delay).await;
        }
      }
    }
  }

  /// Sends one request through a session of `pool` and waits for its answer. The reply
  /// timeout runs from when the request is completely sent.
  async fn attempt(
    &self,
    pool: &EndpointPool,
    body: Body,
    call: &CallOptions,
    in_flight: &Mutex<Option<InFlight>>,
  ) -> Result<(ScanReply, u64), Failure> {
    let _outstanding = pool.enter();
    let slot = match pool.acquire().await {
      Ok(slot) => slot,
      Err(error) => {
        return Err(Failure {
          error,
          stage: Stage::NotSent,
          body: Some(body),
        })
      }
    };
    let session = pool.session(matches!(body, Body::Fildes(_)));
    let (answer_tx, answer_rx) = oneshot::channel();
    let (sent_tx, sent_rx) = oneshot::channel();
    let state = Arc::new(AtomicU8::new(session::QUEUED));
    *in_flight.lock().unwrap() = Some(InFlight {
      session: session.clone(),
      state: state.clone(),
    });
    session.submit(Request {
      body,
      answer: answer_tx,
      cancel: call.cancel.clone(),
      state,
      sent: Some(sent_tx),
      slot,
      max_bytes: self.config.max_file_size,
    });
    let timeout = call.timeout.unwrap_or(self.config.idle_timeout);
    let reply_deadline = async {
      if sent_rx.await.is_err() {
        return std::future::pending().await;
      }
      match timeout {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
      }
    };
    let mut answer_rx = answer_rx;
    let result = tokio::select! {
      answer = &mut answer_rx => answer.unwrap_or_else(|_| Err(Failure { error: ClamError::Closed, stage: Stage::Sent, body: None })),
      _ = reply_deadline => {
        // clamd may be stuck on this connection: drop it (its other requests are replayed), and
        // take this request's body back from the teardown, for a retry.
        session.kill();
        let body = match tokio::time::timeout(Duration::from_secs(1), answer_rx).await {
          Ok(Ok(Err(failure))) => failure.body,
          _ => None,
        };
        let ms = timeout.map_or(0, |d| d.as_millis() as u64);
        Err(Failure { error: ClamError::Timeout(ms), stage: Stage::Sent, body })
      }
    };
    in_flight.lock().unwrap().take();
    result
  }

  /// Sends PING, VERSION or STATS to the least busy healthy endpoint (failing over like scans).
  pub async fn command(&self, name: &str) -> Result<(String, Endpoint), CallError> {
    let mut retries_left = self.config.retries;
    let mut excluded = Vec::new();
    loop {
      if self.closed.load(Ordering::SeqCst) {
        return Err(CallError {
          error: ClamError::Closed,
          endpoint: None,
        });
      }
      let index = self.pick(&excluded).expect("at least one endpoint");
      let pool = &self.pools[index];
      match command_once(&pool.endpoint, name, self.config.idle_timeout).await {
        Ok(text) => {
          pool.mark_up();
          return Ok((text, pool.endpoint.clone()));
        }
        Err(error) => {
          let err = CallError {
            error: error.clone(),
            endpoint: Some(pool.endpoint.clone()),
          };
          if !error.is_retryable() {
            return Err(err);
          }
          if matches!(error, ClamError::Os { ref syscall, .. } if syscall == "connect") {
            pool.mark_down(&error);
          }
          excluded.push(index);
          if excluded.len() < self.pools.len() {
            continue;
          }
          if retries_left == 0 {
            return Err(err);
          }
          retries_left -= 1;
          excluded.clear();
          tokio::time::sleep(self.config.retry_delay).await;
        }
      }
    }
  }

  /// Ends every session; calls in flight and queued fail with `Closed`. Resolves once every
  /// connection is closed.
  pub async fn close(&self) {
    self.closed.store(true, Ordering::SeqCst);
    for pool in &self.pools {
      pool.close();
    }
    self.connections.all_closed().await;
  }
}

impl Drop for Client {
  fn drop(&mut self) {
    for pool in &self.pools {
      pool.close();
    }
  }
}

/// One command on a connection of its own (commands are rare; probes need fresh connections).
pub async fn command_once(endpoint: &Endpoint, name: &str, idle: Option<Duration>) -> Result<String, ClamError> {
  let exchange = async {
    let (mut rd, mut wr) = transport::connect(endpoint, idle).await?.into_split();
    wr.write_all(&protocol::command(name))
      .await
      .map_err(|e| endpoint.io_error(&e, "write"))?;
    let mut reader = ReplyReader::new();
    let mut buf = vec![0u8; 8192];
    loop {
      let n = rd.read(&mut buf).await.map_err(|e| endpoint.io_error(&e, "read"))?;
      if n == 0 {
        let raw = reader.take_rest().ok_or(ClamError::HangUp)?;
        return Ok(protocol::normalise(&raw));
      }
      reader.push(&buf[..n]);
      match reader.next_event() {
        Some(ReplyEvent::Reply(raw)) => return Ok(protocol::normalise(&raw)),
        Some(ReplyEvent::TooLong) => return Err(ClamError::Protocol("clamd reply exceeds 64 KiB".into())),
        None => {}
      }
    }
  };
  match idle {
    Some(d) => tokio::time::timeout(d, exchange)
      .await
      .unwrap_or(Err(ClamError::Timeout(d.as_millis() as u64))),
    None => exchange.await,
  }
}
