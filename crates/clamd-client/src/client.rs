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
use crate::discovery::{Resolver, ResolverSpec};
use crate::endpoints::{EndpointSet, PoolSettings, Snapshot};
use crate::error::ClamError;
use crate::file::{self, FileId, Opened};
use crate::metrics::ScanMetrics;
use crate::observe::{report, Event, Observer};
use crate::pool::{Availability, EndpointPool, PoolState};
use crate::protocol::{ErrorReason, ScanReply};
use crate::reply_watch::ReplyWatcher;
use crate::session::{Body, ConnectionCount, Failure, QueueDeadline, Reply, Request, RequestHandle, Stage};
use crate::source::{SharedBytes, Source};
use crate::transport::Endpoint;

#[derive(Debug, Clone)]
pub struct ClientConfig {
  /// Fixed endpoints.
  pub endpoints: Vec<Endpoint>,
  /// TCP or TLS endpoints whose host is a name to discover: each of its addresses becomes an
  /// endpoint, re-resolved every `discover_interval`.
  pub discover: Vec<Endpoint>,
  /// Names whose `_clamd._tcp` SRV records list the endpoints (their targets' addresses, with
  /// the records' ports); TCP or TLS endpoints whose host is the name (the port is not used).
  pub discover_srv: Vec<Endpoint>,
  pub resolver: ResolverSpec,
  pub discover_interval: Duration,
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

/// Where a scan started by `scan_direct` hands its result.
pub type Done = Box<dyn FnOnce(Result<ScanOutcome, CallError>) + Send>;

/// A direct scan's first attempt, failed: its call goes on from there.
struct FirstAttempt {
  pool: Arc<EndpointPool>,
  failure: Failure,
}

pub struct Client {
  config: ClientConfig,
  observer: Option<Observer>,
  /// Counters of every scan's end (`metrics()`).
  pub metrics: ScanMetrics,
  endpoints: Arc<EndpointSet>,
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

  /// A client whose endpoints' events (down, up, failover, retry, discovery) go to `observer`.
  pub fn with_observer(config: ClientConfig, observer: Option<Observer>) -> Self {
    Client::with_hooks(config, observer, None)
  }

  /// A client with an observer (see `with_observer`) whose TCP and UNIX sessions' replies are
  /// read by `reply_watcher` (see `reply_watch`) when there is one.
  pub fn with_hooks(
    config: ClientConfig,
    observer: Option<Observer>,
    reply_watcher: Option<Arc<dyn ReplyWatcher>>,
  ) -> Self {
    let connections = Arc::new(ConnectionCount::default());
    let endpoints = EndpointSet::new(
      config.endpoints.clone(),
      config
        .discover
        .iter()
        .map(|e| (e.clone(), false))
        .chain(config.discover_srv.iter().map(|e| (e.clone(), true)))
        .collect(),
      Resolver::new(config.resolver.clone()),
      config.discover_interval,
      PoolSettings {
        idle: config.idle_timeout,
        connect_timeout: config.connect_timeout,
        max_connections: config.max_connections,
        max_age: config.max_connection_age,
        connections: connections.clone(),
        observer: observer.clone(),
        reply_watcher,
      },
    );
    Client {
      config,
      observer,
      metrics: ScanMetrics::default(),
      endpoints,
      connections,
      closed: AtomicBool::new(false),
      rotation: AtomicUsize::new(0),
    }
  }

  /// The endpoint for the next attempt: the healthy one with the fewest outstanding requests,
  /// skipping those that already failed in this round. An endpoint that is down is tried by
  /// one call at a time, at most once a second (`first_round`; later rounds try it anyway);
  /// when that leaves none, the call is answered at once with why the endpoint went down.
  fn pick(&self, pools: &Snapshot, excluded: &[Arc<EndpointPool>], first_round: bool) -> Pick {
    if pools.is_empty() {
      return Pick::Exhausted;
    }
    // The common case, every candidate up: the least outstanding one, found without allocating.
    if let Some(pool) = self.pick_up(pools, excluded) {
      return Pick::Use { pool, trial: false };
    }
    let is_excluded = |p: &Arc<EndpointPool>| excluded.iter().any(|e| Arc::ptr_eq(e, p));
    let mut candidates: Vec<&Arc<EndpointPool>> = pools.iter().filter(|p| !is_excluded(p)).collect();
    if candidates.is_empty() {
      return Pick::Exhausted;
    }
    candidates.sort_by_key(|p| (p.is_down(), p.outstanding()));
    let mut down = None;
    for p in candidates {
      match p.claim() {
        Availability::Up => {
          return Pick::Use {
            pool: p.clone(),
            trial: false,
          }
        }
        Availability::Trial => {
          return Pick::Use {
            pool: p.clone(),
            trial: true,
          }
        }
        Availability::Down(_) if !first_round => {
          return Pick::Use {
            pool: p.clone(),
            trial: false,
          }
        }
        Availability::Down(err) => {
          if down.is_none() {
            down = Some((p.clone(), err));
          }
        }
      }
    }
    let (pool, error) = down.expect("every candidate is down");
    Pick::AllDown { pool, error }
  }

  /// The healthy endpoint with the fewest outstanding requests, if one is up: ties go
  /// round-robin, so that a burst of calls does not all land on the first endpoint.
  fn pick_up(&self, pools: &Snapshot, excluded: &[Arc<EndpointPool>]) -> Option<Arc<EndpointPool>> {
    let n = pools.len();
    if n == 0 {
      return None;
    }
    let start = self.rotation.fetch_add(1, Ordering::Relaxed) % n;
    let best = (0..n)
      .map(|k| &pools[(start + k) % n])
      .filter(|p| !excluded.iter().any(|e| Arc::ptr_eq(e, p)) && !p.is_down())
      .min_by_key(|p| p.outstanding())?;
    matches!(best.claim(), Availability::Up).then(|| best.clone())
  }

  pub async fn scan(&self, payload: Payload, call: &CallOptions) -> Result<ScanOutcome, CallError> {
    self.scan_from(payload, call, Instant::now(), None).await
  }

  /// A scan, from its start or (`first`) after a first attempt made by `scan_direct`.
  async fn scan_from(
    &self,
    payload: Payload,
    call: &CallOptions,
    started: Instant,
    first: Option<FirstAttempt>,
  ) -> Result<ScanOutcome, CallError> {
    let result = self.scan_once(payload, call, started, first).await;
    self.count(&result, started);
    result
  }

  fn count(&self, result: &Result<ScanOutcome, CallError>, started: Instant) {
    match result {
      Ok(o) => self.metrics.verdict(&o.reply.verdict, o.bytes, started.elapsed()),
      Err(_) => self.metrics.failed(started.elapsed()),
    }
  }

  /// Starts a buffer scan without a task of its own when nothing can make it wait: no abort
  /// switch, discovered names resolved, an endpoint up with a free request slot. The session
  /// hands the answer to `done` on the thread that read it (a runtime thread, or the client's
  /// reply watcher's, see `reply_watch`); a failed attempt goes on as `scan` would
  /// after it, on a task then. Gives everything back when the call must take `scan`'s way.
  /// Call it within the runtime's context (a new session's task is spawned here).
  ///
  /// A task per scan (its future, its polls, its channels) was the largest part of the runtime
  /// thread's CPU per small scan, and submitting from the caller's thread lets a burst of small
  /// scans go out in one write (README, Benchmark).
  pub fn scan_direct(
    self: &Arc<Self>,
    bytes: SharedBytes,
    call: CallOptions,
    done: Done,
  ) -> Option<(SharedBytes, CallOptions, Done)> {
    let size = (*bytes).as_ref().len() as u64;
    let simple = Arc::strong_count(&call.cancel) == 1
      && !self.closed.load(Ordering::SeqCst)
      && self.endpoints.is_settled()
      && self.config.max_file_size.is_none_or(|max| size <= max);
    if !simple {
      return Some((bytes, call, done));
    }
    let Some(pool) = self.pick_up(&self.endpoints.live(), &[]) else {
      return Some((bytes, call, done));
    };
    let outstanding = pool.enter();
    let Some(slot) = pool.try_acquire() else {
      return Some((bytes, call, done));
    };
    let started = Instant::now();
    let session = pool.session(false);
    let client = self.clone();
    let runtime = tokio::runtime::Handle::current();
    let body = Body::Instream(Source::buffer(bytes.clone()));
    let timeout = call.timeout.unwrap_or(self.config.idle_timeout);
    let reply = Reply::new(move |answer| {
      drop(outstanding);
      match answer {
        Ok((reply, sent)) => {
          pool.mark_up();
          let result = Ok(ScanOutcome {
            reply,
            endpoint: Some(pool.endpoint().clone()),
            bytes: sent,
            duration: started.elapsed(),
            file_id: None,
            attempts: 1,
          });
          client.count(&result, started);
          done(result);
        }
        Err(failure) => {
          runtime.spawn(async move {
            let payload = Payload::Buffer(bytes);
            let first = FirstAttempt { pool, failure };
            done(client.scan_from(payload, &call, started, Some(first)).await);
          });
        }
      }
    });
    let request = Request::new(
      body,
      reply,
      Arc::new(Cancel::default()),
      timeout,
      self.queue_deadline(),
      slot,
      self.config.max_file_size,
    );
    session.submit(request);
    None
  }

  async fn scan_once(
    &self,
    payload: Payload,
    call: &CallOptions,
    started: Instant,
    first: Option<FirstAttempt>,
  ) -> Result<ScanOutcome, CallError> {
    let in_flight: Mutex<Option<InFlight>> = Mutex::new(None);
    let work = self.scan_attempts(payload, call, &in_flight, started, first);
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
    mut first: Option<FirstAttempt>,
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
    let mut course = Course::new(self).await?;
    loop {
      let (pool, trial, result) = match first.take() {
        // The attempt `scan_direct` made: on an endpoint that was up (no trial).
        Some(FirstAttempt { pool, failure }) => {
          course.attempts += 1;
          (pool, false, Err(failure))
        }
        None => {
          let (pool, trial) = course.next().await?;
          let Some(body) = input.body_for(pool.endpoint(), self.config.fdpass) else {
            return Err(course.last.take().expect("a stream is only lost after a failure"));
          };
          let result = self.attempt(&pool, body, call, in_flight).await;
          (pool, trial, result)
        }
      };
      match course.settle(&pool, trial, result.map_err(|f| (f.error, f.stage, f.body))) {
        Settled::Done((reply, bytes)) => {
          return Ok(ScanOutcome {
            reply,
            endpoint: Some(pool.endpoint().clone()),
            bytes,
            duration: started.elapsed(),
            file_id,
            attempts: course.attempts,
          })
        }
        Settled::Failed(err) => return Err(err),
        Settled::Again { error, stage, body } => {
          input.give_back(body);
          let can_resend = !matches!(&input, Input::Stream(None));
          course.decide(&pool, error, stage, can_resend).await?;
        }
      }
    }
  }

  /// Sends one request through a session of `pool` and waits for its answer. The session keeps
  /// its reply timeout (from when it is completely sent) and its queue deadline.
  async fn attempt(
    &self,
    pool: &Arc<EndpointPool>,
    body: Body,
    call: &CallOptions,
    in_flight: &Mutex<Option<InFlight>>,
  ) -> Result<(ScanReply, u64), Failure> {
    let _outstanding = pool.enter();
    let queue_deadline = self.queue_deadline();
    // A free slot is taken without arming the queue timer (the common case).
    let acquired = match (pool.try_acquire(), queue_deadline) {
      (Some(slot), _) => Ok(slot),
      (None, Some(q)) => match tokio::time::timeout_at(q.at, pool.acquire()).await {
        Ok(r) => r,
        Err(_) => {
          return Err(Failure {
            error: ClamError::QueueTimeout(q.ms),
            stage: Stage::Final,
            body: None,
          })
        }
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
    let request = Request::new(
      body,
      Reply::new(move |answer| {
        let _ = answer_tx.send(answer);
      }),
      call.cancel.clone(),
      call.timeout.unwrap_or(self.config.idle_timeout),
      queue_deadline,
      slot,
      self.config.max_file_size,
    );
    *in_flight.lock().unwrap() = Some(Arc::new(session.submit(request)));
    let result = answer_rx.await.unwrap_or_else(|_| {
      Err(Failure {
        error: ClamError::Closed,
        stage: Stage::Sent,
        body: None,
      })
    });
    in_flight.lock().unwrap().take();
    result
  }

  /// The queue deadline of an attempt starting now.
  fn queue_deadline(&self) -> Option<QueueDeadline> {
    self.config.queue_timeout.map(|d| QueueDeadline {
      at: tokio::time::Instant::now() + d,
      ms: d.as_millis() as u64,
    })
  }

  /// Sends PING, VERSION or STATS to the least busy healthy endpoint, on a connection of its
  /// own, under the same failover and retry policy as scans.
  pub async fn command(&self, name: &str) -> Result<(String, Endpoint), CallError> {
    let mut course = Course::new(self).await?;
    loop {
      let (pool, trial) = course.next().await?;
      let result = crate::command::command_once(&pool.connector, name, self.config.idle_timeout, false)
        .await
        .map_err(|error| {
          let stage = if error.is_connect_failure() {
            Stage::Connect
          } else {
            Stage::Sent
          };
          (error, stage, None)
        });
      match course.settle(&pool, trial, result) {
        Settled::Done(text) => return Ok((text, pool.endpoint().clone())),
        Settled::Failed(err) => return Err(err),
        Settled::Again { error, stage, .. } => course.decide(&pool, error, stage, true).await?,
      }
    }
  }

  /// Sends PING, VERSION or STATS to the endpoint named `endpoint` itself (per-endpoint
  /// metrics), with no failover or retry.
  pub async fn command_to(&self, endpoint: &str, name: &str) -> Result<String, CallError> {
    let pool = self.endpoints.find(endpoint).ok_or(CallError {
      error: ClamError::Internal(format!("no endpoint {endpoint}")),
      endpoint: None,
    })?;
    crate::command::command_once(&pool.connector, name, self.config.idle_timeout, false)
      .await
      .map_err(|error| CallError {
        error,
        endpoint: Some(pool.endpoint().clone()),
      })
  }

  /// Each endpoint's state now (`metrics()`): the live ones, then those draining.
  pub fn pool_states(&self) -> Vec<PoolState> {
    self.endpoints.states()
  }

  /// Ends every session; calls in flight and queued fail with `Closed`. Resolves once every
  /// connection is closed.
  pub async fn close(&self) {
    self.closed.store(true, Ordering::SeqCst);
    self.endpoints.close();
    self.connections.all_closed().await;
  }

  fn closed_error(&self) -> Option<CallError> {
    self.closed.load(Ordering::SeqCst).then_some(CallError {
      error: ClamError::Closed,
      endpoint: None,
    })
  }
}

impl Drop for Client {
  fn drop(&mut self) {
    self.endpoints.close();
  }
}

/// The endpoint chosen for an attempt.
enum Pick {
  Use {
    pool: Arc<EndpointPool>,
    trial: bool,
  },
  /// Every endpoint not yet failed in this round is down; `error` is why `pool` went down.
  AllDown {
    pool: Arc<EndpointPool>,
    error: Option<ClamError>,
  },
  /// Every endpoint failed in this round (or there is none).
  Exhausted,
}

/// How an attempt ended, for the call's course.
enum Settled<T> {
  Done(T),
  /// The call ends with this failure.
  Failed(CallError),
  /// Another attempt may follow (`Course::decide` says where); the body came back with it.
  Again {
    error: ClamError,
    stage: Stage,
    body: Option<Body>,
  },
}

/// One call's way across the endpoints: the one failover, replay and retry policy, for scans
/// and commands alike, and the one place an endpoint is marked down.
struct Course<'a> {
  client: &'a Client,
  pools: Snapshot,
  retries_left: u32,
  replayed: bool,
  broken_in_round: bool,
  resubmits: u32,
  excluded: Vec<Arc<EndpointPool>>,
  last: Option<CallError>,
  attempts: u32,
}

impl<'a> Course<'a> {
  /// A course over the endpoints live now (discovered names resolved first).
  async fn new(client: &'a Client) -> Result<Course<'a>, CallError> {
    client
      .endpoints
      .ready()
      .await
      .map_err(|error| CallError { error, endpoint: None })?;
    Ok(Course {
      client,
      pools: client.endpoints.live(),
      retries_left: client.config.retries,
      replayed: false,
      broken_in_round: false,
      resubmits: 0,
      excluded: Vec::new(),
      last: None,
      attempts: 0,
    })
  }

  /// Starts a new retry round after `err`, or ends the call with it.
  async fn retry_round(&mut self, err: CallError) -> Result<(), CallError> {
    // A TLS failure is not retried: the same certificate fails the same way.
    if self.retries_left == 0 || !err.error.is_retryable() {
      return Err(err);
    }
    self.retries_left -= 1;
    let config = &self.client.config;
    report(&self.client.observer, || Event::Retry {
      endpoint: err.endpoint.clone(),
      attempt: config.retries - self.retries_left,
      error: err.error.clone(),
    });
    self.excluded.clear();
    self.last = Some(err);
    tokio::time::sleep(config.retry_delay).await;
    // A new round sees the endpoints live now.
    self.pools = self.client.endpoints.live();
    Ok(())
  }

  /// The endpoint for the next attempt, or the call's end.
  async fn next(&mut self) -> Result<(Arc<EndpointPool>, bool), CallError> {
    loop {
      if let Some(err) = self.client.closed_error() {
        return Err(err);
      }
      let first_round = self.retries_left == self.client.config.retries;
      match self.client.pick(&self.pools, &self.excluded, first_round) {
        Pick::Use { pool, trial } => {
          // The call failed on another endpoint and goes on here: a failover.
          if let Some(from) = self.last.as_ref().and_then(|l| l.endpoint.as_ref()) {
            if from != pool.endpoint() {
              report(&self.client.observer, || Event::Failover {
                from: from.clone(),
                to: pool.endpoint().clone(),
              });
            }
          }
          self.attempts += 1;
          return Ok((pool, trial));
        }
        // Every endpoint left is down: answer now, with this call's own failure if it had one.
        Pick::AllDown { pool, error } => {
          let err = self.last.take().unwrap_or(CallError {
            error: error.unwrap_or(ClamError::HangUp),
            endpoint: Some(pool.endpoint().clone()),
          });
          self.retry_round(err).await?;
        }
        // Every endpoint failed in this round.
        Pick::Exhausted => {
          let Some(err) = self.last.take() else {
            return Err(CallError {
              error: ClamError::Internal("no clamd endpoint".into()),
              endpoint: None,
            });
          };
          if self.broken_in_round && !self.replayed {
            // Sessions broke under the request (all clamd restarted at once, say): a broken
            // session is not a dead endpoint, so the round is tried once more on new connections.
            self.replayed = true;
            self.broken_in_round = false;
            self.excluded.clear();
            self.last = Some(err);
            continue;
          }
          self.retry_round(err).await?;
        }
      }
    }
  }

  /// Records how an attempt on `pool` ended. A connect failure marks the endpoint down here,
  /// and only here.
  fn settle<T>(
    &mut self,
    pool: &Arc<EndpointPool>,
    trial: bool,
    result: Result<T, (ClamError, Stage, Option<Body>)>,
  ) -> Settled<T> {
    if trial {
      pool.end_trial();
    }
    let (error, stage, body) = match result {
      Ok(value) => {
        pool.mark_up();
        return Settled::Done(value);
      }
      Err(failure) => failure,
    };
    if let Some(err) = self.client.closed_error() {
      return Settled::Failed(err);
    }
    if stage == Stage::Connect && error.is_connect_failure() {
      pool.mark_down(&error);
      self.client.endpoints.went_down(pool);
    }
    Settled::Again { error, stage, body }
  }

  /// After a failed attempt on `pool`: where the call goes next, or its end.
  ///
  /// - before the request went out, or ended for another request's sake: sent again;
  /// - a connect failure: another endpoint, at once (failover);
  /// - a session that broke under the request: another healthy endpoint at once, if any; else
  ///   replayed once on a new session of the same endpoint;
  /// - anything else: `retries` decide, when the input can be sent again.
  async fn decide(
    &mut self,
    pool: &Arc<EndpointPool>,
    error: ClamError,
    stage: Stage,
    can_resend: bool,
  ) -> Result<(), CallError> {
    let err = CallError {
      error: error.clone(),
      endpoint: Some(pool.endpoint().clone()),
    };
    let superseded =
      stage == Stage::NotSent || (stage == Stage::Sent && can_resend && matches!(error, ClamError::Closed));
    let has_alternative = || {
      self
        .pools
        .iter()
        .any(|p| !Arc::ptr_eq(p, pool) && !self.excluded.iter().any(|e| Arc::ptr_eq(e, p)) && !p.is_down())
    };
    match stage {
      Stage::Final => return Err(err),
      _ if superseded && self.resubmits < 16 => self.resubmits += 1,
      Stage::Connect => self.excluded.push(pool.clone()),
      Stage::Sent if can_resend && error.breaks_session() && (has_alternative() || !self.replayed) => {
        if has_alternative() {
          self.excluded.push(pool.clone());
          self.broken_in_round = true;
        } else {
          self.replayed = true;
        }
      }
      _ if !can_resend => return Err(err),
      _ => return self.retry_round(err).await,
    }
    self.last = Some(err);
    Ok(())
  }
}
