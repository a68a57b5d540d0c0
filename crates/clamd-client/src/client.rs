//! The client: endpoints, the choice among them, and what a call does when something fails.
//!
//! - A connection failure marks the endpoint down and the call moves to another endpoint at once
//!   (failover); when none is left, `retries` decide, with `retry_delay` between rounds. A TLS
//!   failure fails over the same way but starts no new round: the same certificate fails again.
//! - A session that breaks under a request (a reset, a hang-up, a reply that breaks the protocol)
//!   sends it to another healthy endpoint at once; with none, it is replayed once on a new
//!   session of the same endpoint, whether or not the broken session had answered anything.
//! - A session ended for another request's sake (its timeout, its abort, an early reply) sends
//!   its other requests again at once; that is no failure of theirs and costs no replay.
//! - Other failures (timeouts, a second break) follow `retries` when the input can be sent
//!   again; a reply, whatever it says, is never retried.
//! - A payload over `max_file_size` is not sent: clamd would skip it and answer OK.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub use crate::cancel::Cancel;
use crate::error::ClamError;
use crate::file::{self, FileId, Opened};
use crate::metrics::ScanMetrics;
use crate::observe::{report, Event, Observer};
use crate::pool::{Availability, EndpointPool, PoolState};
use crate::protocol::{ErrorReason, ScanReply};
use crate::session::{Body, ConnectionCount, Failure, Request, RequestHandle, Stage};
use crate::source::{SharedBytes, Source};
use crate::transport::Endpoint;

#[derive(Debug, Clone)]
pub struct ClientConfig {
  pub endpoints: Vec<Endpoint>,
  /// Idle timeout: each write, and the wait for a reply once a request is sent (restarted by
  /// every byte clamd sends).
  pub idle_timeout: Option<Duration>,
  /// The deadline for opening a connection (name resolution included).
  pub connect_timeout: Option<Duration>,
  /// The longest an attempt waits for a request slot or its turn in a session.
  pub queue_timeout: Option<Duration>,
  pub retries: u32,
  pub retry_delay: Duration,
  pub max_connections: usize,
  /// Pass regular files to UNIX-socket endpoints as descriptors (FILDES).
  pub fdpass: bool,
  /// Payloads larger than this are ScanError `too-large` (clamd's `MaxFileSize`, default
  /// 100 MiB, makes it skip them and answer OK). `None`: no guard.
  pub max_file_size: Option<u64>,
  /// Sessions older than this are closed after their in-flight requests. `None`: kept.
  pub max_connection_age: Option<Duration>,
}

/// What to scan.
pub enum Payload {
  Buffer(SharedBytes),
  /// A path, opened by `rule` (a directory walk's file: beneath its root, the listed inode).
  File {
    path: String,
    rule: file::OpenRule,
  },
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
  /// For a regular file: the identity of the descriptor that was scanned.
  pub file_id: Option<crate::file::FileId>,
  /// Attempts made (1: the first one answered; 0: nothing was sent).
  pub attempts: u32,
}

/// A failed call, with the endpoint it failed on.
#[derive(Debug, Clone)]
pub struct CallError {
  pub error: ClamError,
  pub endpoint: Option<Endpoint>,
}

/// Per-call settings.
#[derive(Default)]
pub struct CallOptions {
  /// Overrides the client's idle timeout for this call's reply.
  pub timeout: Option<Option<Duration>>,
  pub cancel: Arc<Cancel>,
}

/// The request of a call currently inside a session, for aborts.
type InFlight = Arc<RequestHandle>;

pub struct Client {
  config: ClientConfig,
  observer: Option<Observer>,
  /// Counters of every scan's end (`metrics()`).
  pub metrics: ScanMetrics,
  pools: Vec<Arc<EndpointPool>>,
  connections: Arc<ConnectionCount>,
  closed: AtomicBool,
  rotation: AtomicUsize,
}

/// What a call sends, rebuilt for each attempt (the body differs between TCP and UNIX endpoints).
enum Input {
  Buffer(SharedBytes),
  /// A regular file, opened once: every attempt sends this descriptor's content.
  File {
    file: Arc<std::fs::File>,
    path: String,
  },
  Stream(Option<Source>),
}

impl Input {
  /// What a payload becomes for the attempts, with its size where it is known before sending.
  /// A path is opened here, off the runtime's workers, and read as what it really is: a
  /// regular file, or a stream (a FIFO, a device).
  async fn from_payload(payload: Payload) -> Result<(Input, Option<u64>, Option<FileId>), ClamError> {
    Ok(match payload {
      Payload::Buffer(bytes) => {
        let size = (*bytes).as_ref().len() as u64;
        (Input::Buffer(bytes), Some(size), None)
      }
      Payload::File { path, rule } => match file::open(path.clone(), rule).await? {
        Opened::Regular { file, size, id } => (Input::File { file, path }, Some(size), Some(id)),
        #[cfg(unix)]
        Opened::Fifo(file) => (Input::Stream(Some(Source::fifo(file, path))), None, None),
        #[cfg(not(unix))]
        Opened::Fifo(file) => (Input::Stream(Some(Source::device(file, path))), None, None),
        Opened::Device(file) => (Input::Stream(Some(Source::device(file, path))), None, None),
      },
      Payload::Stream(s) => (Input::Stream(Some(s)), None, None),
    })
  }

  fn body_for(&mut self, endpoint: &Endpoint, fdpass: bool) -> Option<Body> {
    match self {
      Input::Buffer(bytes) => Some(Body::Instream(Source::buffer(bytes.clone()))),
      Input::File { file, path } if fdpass && endpoint.is_unix() => Some(Body::Fildes {
        file: file.clone(),
        path: path.clone(),
      }),
      Input::File { file, path } => Some(Body::File {
        file: file.clone(),
        path: path.clone(),
      }),
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
    Client::with_observer(config, None)
  }

  /// A client whose endpoints' events (down, up, failover, retry) go to `observer`.
  pub fn with_observer(config: ClientConfig, observer: Option<Observer>) -> Self {
    let connections = Arc::new(ConnectionCount::default());
    let pools = config
      .endpoints
      .iter()
      .map(|e| {
        EndpointPool::new(
          e.clone(),
          config.idle_timeout,
          config.connect_timeout,
          config.max_connections,
          connections.clone(),
          observer.clone(),
          config.max_connection_age,
        )
      })
      .collect();
    Client {
      config,
      observer,
      metrics: ScanMetrics::default(),
      pools,
      connections,
      closed: AtomicBool::new(false),
      rotation: AtomicUsize::new(0),
    }
  }

  /// The endpoint for the next attempt: the healthy one with the fewest outstanding requests,
  /// skipping those that already failed in this round. An endpoint that is down is tried by
  /// one call at a time, at most once a second (`first_round`; later rounds try it anyway);
  /// when that leaves none, the call is answered at once with why the endpoint went down.
  fn pick(&self, excluded: &[usize], first_round: bool) -> Pick {
    // Ties go round-robin, so that a burst of calls does not all land on the first endpoint.
    let n = self.pools.len();
    let start = self.rotation.fetch_add(1, Ordering::Relaxed) % n;
    let order = || (0..n).map(move |k| (start + k) % n).filter(|i| !excluded.contains(i));
    // The common case, every candidate up: the least outstanding one, found without allocating.
    let best_up = order()
      .filter(|&i| !self.pools[i].is_down())
      .min_by_key(|&i| self.pools[i].outstanding());
    if let Some(i) = best_up {
      if let Availability::Up = self.pools[i].claim() {
        return Pick::Use { index: i, trial: false };
      }
    }
    let mut candidates: Vec<usize> = order().collect();
    if candidates.is_empty() {
      return Pick::Exhausted;
    }
    candidates.sort_by_key(|&i| (self.pools[i].is_down(), self.pools[i].outstanding()));
    let mut down = None;
    for &i in &candidates {
      match self.pools[i].claim() {
        Availability::Up => return Pick::Use { index: i, trial: false },
        Availability::Trial => return Pick::Use { index: i, trial: true },
        Availability::Down(_) if !first_round => return Pick::Use { index: i, trial: false },
        Availability::Down(err) => {
          if down.is_none() {
            down = Some((i, err));
          }
        }
      }
    }
    let (index, error) = down.expect("every candidate is down");
    Pick::AllDown { index, error }
  }

  /// Whether an endpoint other than `index`, not yet failed in this round, is healthy.
  fn has_alternative(&self, excluded: &[usize], index: usize) -> bool {
    (0..self.pools.len()).any(|i| i != index && !excluded.contains(&i) && !self.pools[i].is_down())
  }

  pub async fn scan(&self, payload: Payload, call: &CallOptions) -> Result<ScanOutcome, CallError> {
    let started = Instant::now();
    let result = self.scan_once(payload, call, started).await;
    match &result {
      Ok(o) => self.metrics.verdict(&o.reply.verdict, o.bytes, started.elapsed()),
      Err(_) => self.metrics.failed(started.elapsed()),
    }
    result
  }

  async fn scan_once(&self, payload: Payload, call: &CallOptions, started: Instant) -> Result<ScanOutcome, CallError> {
    let in_flight: Mutex<Option<InFlight>> = Mutex::new(None);
    let work = self.scan_attempts(payload, call, &in_flight, started);
    if Arc::strong_count(&call.cancel) == 1 {
      // Nobody else holds this switch (a call without an abort signal): it can never be
      // flipped, so nothing waits on it.
      return work.await;
    }
    tokio::select! {
      // Cancellation first: an aborted call must not take a slot freed by its own abort.
      biased;
      _ = call.cancel.cancelled() => {
        // The session decides what an abort means for how far the request got.
        if let Some(request) = in_flight.lock().unwrap().take() {
          request.cancel(&call.cancel);
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
    let (mut input, size, file_id) = Input::from_payload(payload)
      .await
      .map_err(|error| CallError { error, endpoint: None })?;
    if let (Some(max), Some(size)) = (self.config.max_file_size, size) {
      if size > max {
        return Ok(ScanOutcome {
          reply: ScanReply::client_error(ErrorReason::TooLarge),
          endpoint: None,
          bytes: 0,
          duration: started.elapsed(),
          file_id,
          attempts: 0,
        });
      }
    }
    let mut retries_left = self.config.retries;
    let mut replayed = false;
    let mut broken_in_round = false;
    let mut resubmits = 0;
    let mut excluded: Vec<usize> = Vec::new();
    let mut last: Option<CallError> = None;
    let mut attempts = 0u32;
    loop {
      if self.closed.load(Ordering::SeqCst) {
        return Err(CallError {
          error: ClamError::Closed,
          endpoint: None,
        });
      }
      let first_round = retries_left == self.config.retries;
      let (index, trial) = match self.pick(&excluded, first_round) {
        Pick::Use { index, trial } => (index, trial),
        ended => {
          let err = match ended {
            // Every endpoint left is down: answer now, with this call's own failure if it had one.
            Pick::AllDown { index, error } => last.take().unwrap_or(CallError {
              error: error.unwrap_or(ClamError::HangUp),
              endpoint: Some(self.pools[index].endpoint.clone()),
            }),
            // Every endpoint failed in this round.
            _ => {
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
              err
            }
          };
          // A TLS failure is not retried: the same certificate fails the same way.
          if retries_left == 0 || !err.error.is_retryable() {
            return Err(err);
          }
          retries_left -= 1;
          report(&self.observer, || Event::Retry {
            endpoint: err.endpoint.clone(),
            attempt: self.config.retries - retries_left,
            error: err.error.clone(),
          });
          excluded.clear();
          last = Some(err);
          tokio::time::sleep(self.config.retry_delay).await;
          continue;
        }
      };
      let pool = &self.pools[index];
      let Some(body) = input.body_for(&pool.endpoint, self.config.fdpass) else {
        return Err(last.expect("a stream is only lost after a failure"));
      };
      // The call failed on another endpoint and goes on here: a failover.
      if let Some(from) = last.as_ref().and_then(|l| l.endpoint.as_ref()) {
        if *from != pool.endpoint {
          report(&self.observer, || Event::Failover {
            from: from.clone(),
            to: pool.endpoint.clone(),
          });
        }
      }
      attempts += 1;
      let result = self.attempt(pool, body, call, in_flight).await;
      if trial {
        pool.end_trial();
      }
      let failure = match result {
        Ok((reply, bytes)) => {
          pool.mark_up();
          return Ok(ScanOutcome {
            reply,
            endpoint: Some(pool.endpoint.clone()),
            bytes,
            duration: started.elapsed(),
            file_id,
            attempts,
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
          report(&self.observer, || Event::Retry {
            endpoint: err.endpoint.clone(),
            attempt: self.config.retries - retries_left,
            error: err.error.clone(),
          });
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
    let queue_deadline = self.config.queue_timeout.map(|d| tokio::time::Instant::now() + d);
    let queue_expired = || Failure {
      error: ClamError::QueueTimeout(self.config.queue_timeout.map_or(0, |d| d.as_millis() as u64)),
      stage: Stage::Final,
      body: None,
    };
    // A free slot is taken without arming the queue timer (the common case).
    let acquired = match (pool.try_acquire(), queue_deadline) {
      (Some(slot), _) => Ok(slot),
      (None, Some(t)) => match tokio::time::timeout_at(t, pool.acquire()).await {
        Ok(r) => r,
        Err(_) => return Err(queue_expired()),
      },
      (None, None) => pool.acquire().await,
    };
    let slot = match acquired {
      Ok(slot) => slot,
      Err(error) => {
        return Err(Failure {
          error,
          stage: Stage::NotSent,
          body: Some(body),
        })
      }
    };
    let session = pool.session(matches!(body, Body::Fildes { .. }));
    let (answer_tx, answer_rx) = oneshot::channel();
    let (sent_tx, sent_rx) = oneshot::channel();
    let request = Request::new(
      body,
      answer_tx,
      call.cancel.clone(),
      sent_tx,
      slot,
      self.config.max_file_size,
    );
    let (handle, may_wait) = session.submit(request);
    let handle = Arc::new(handle);
    *in_flight.lock().unwrap() = Some(handle.clone());
    let timeout = call.timeout.unwrap_or(self.config.idle_timeout);
    // Idle, not fixed: every byte clamd sends on the session restarts the wait.
    let reply_deadline = async {
      if sent_rx.await.is_err() {
        return std::future::pending().await;
      }
      let Some(d) = timeout else {
        return std::future::pending().await;
      };
      let sent_at = tokio::time::Instant::now();
      loop {
        let due = handle.last_read().max(sent_at) + d;
        if due <= tokio::time::Instant::now() {
          return;
        }
        tokio::time::sleep_until(due).await;
      }
    };
    // Still waiting for its turn in the session at the queue deadline: withdrawn, never written.
    let withdrawn = async {
      if let Some(t) = queue_deadline.filter(|_| may_wait) {
        tokio::time::sleep_until(t).await;
        if handle.withdraw() {
          return;
        }
      }
      std::future::pending().await
    };
    let mut answer_rx = answer_rx;
    let result = tokio::select! {
      _ = withdrawn => Err(queue_expired()),
      answer = &mut answer_rx => answer.unwrap_or_else(|_| Err(Failure { error: ClamError::Closed, stage: Stage::Sent, body: None })),
      _ = reply_deadline => {
        // clamd may be stuck on this connection: drop it (its other requests are replayed), and
        // take this request's body back from the teardown, for a retry.
        handle.kill_session();
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
      let (index, trial) = match self.pick(&excluded, retries_left == self.config.retries) {
        Pick::Use { index, trial } => (index, trial),
        Pick::AllDown { index, error } => {
          return Err(CallError {
            error: error.unwrap_or(ClamError::HangUp),
            endpoint: Some(self.pools[index].endpoint.clone()),
          })
        }
        Pick::Exhausted => unreachable!("`excluded` is cleared before it holds every endpoint"),
      };
      let pool = &self.pools[index];
      let result = crate::command::command_once(
        &pool.endpoint,
        name,
        self.config.connect_timeout,
        self.config.idle_timeout,
      )
      .await;
      if trial {
        pool.end_trial();
      }
      match result {
        Ok(text) => {
          pool.mark_up();
          return Ok((text, pool.endpoint.clone()));
        }
        Err(error) => {
          let err = CallError {
            error: error.clone(),
            endpoint: Some(pool.endpoint.clone()),
          };
          // Connect failures (TLS ones included) fail over, as for scans; only retryable
          // errors start another round.
          if error.is_connect_failure() {
            pool.mark_down(&error);
          } else if !error.is_retryable() {
            return Err(err);
          }
          excluded.push(index);
          if excluded.len() < self.pools.len() {
            continue;
          }
          if retries_left == 0 || !error.is_retryable() {
            return Err(err);
          }
          retries_left -= 1;
          excluded.clear();
          tokio::time::sleep(self.config.retry_delay).await;
        }
      }
    }
  }

  /// Sends PING, VERSION or STATS to endpoint `index` itself (per-endpoint metrics), with no
  /// failover or retry.
  pub async fn command_at(&self, index: usize, name: &str) -> Result<String, CallError> {
    let pool = self.pools.get(index).ok_or(CallError {
      error: ClamError::Internal(format!("no endpoint {index}")),
      endpoint: None,
    })?;
    crate::command::command_once(
      &pool.endpoint,
      name,
      self.config.connect_timeout,
      self.config.idle_timeout,
    )
    .await
    .map_err(|error| CallError {
      error,
      endpoint: Some(pool.endpoint.clone()),
    })
  }

  /// Each endpoint's state now (`metrics()`).
  pub fn pool_states(&self) -> Vec<PoolState> {
    self.pools.iter().map(|p| p.state()).collect()
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

/// The endpoint chosen for an attempt.
enum Pick {
  Use {
    index: usize,
    trial: bool,
  },
  /// Every endpoint not yet failed in this round is down; `error` is why `index` went down.
  AllDown {
    index: usize,
    error: Option<ClamError>,
  },
  /// Every endpoint failed in this round.
  Exhausted,
}
