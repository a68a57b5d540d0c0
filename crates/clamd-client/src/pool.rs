//! The sessions of one clamd endpoint: a bounded number of connections, a bounded number of
//! requests in flight (excess calls wait here instead of overflowing clamd's queue), and health:
//! a connection failure marks the endpoint down until a PING probe, with a cooldown that starts
//! at 1 s and doubles up to 30 s, finds it back. A pool whose address left the endpoint set
//! drains: its requests finish, it takes no new ones.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::connector::Connector;
use crate::error::ClamError;
use crate::observe::{report, Event, Observer};
use crate::session::{ConnectionCount, Session, PIPELINE};
use crate::transport::Endpoint;

const COOLDOWN_FIRST: Duration = Duration::from_secs(1);
const COOLDOWN_MAX: Duration = Duration::from_secs(30);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A call counted against an endpoint (see `EndpointPool::enter`).
pub struct OutstandingGuard(Arc<EndpointPool>);

impl Drop for OutstandingGuard {
  fn drop(&mut self) {
    self.0.outstanding.fetch_sub(1, Ordering::SeqCst);
  }
}

struct Health {
  cooldown: Duration,
  /// Why it went down: what calls get while every endpoint is down.
  error: Option<ClamError>,
  /// While down, one call at a time may try it again, once per `TRIAL_INTERVAL`.
  next_trial: Option<tokio::time::Instant>,
  trial: bool,
}

/// How often a call may try an endpoint that is down (besides the PING probes).
const TRIAL_INTERVAL: Duration = Duration::from_secs(1);

/// How an endpoint may be used for the next attempt.
#[derive(Debug, Clone)]
pub enum Availability {
  Up,
  /// Down, but this call may try it (it holds the trial until `end_trial`).
  Trial,
  /// Down, and skipped: its error is the call's answer if every endpoint is so.
  Down(Option<ClamError>),
}

pub struct EndpointPool {
  pub connector: Arc<Connector>,
  idle: Option<Duration>,
  max_connections: usize,
  slots: Arc<Semaphore>,
  outstanding: AtomicUsize,
  sessions: Mutex<Vec<Arc<Session>>>,
  /// Down after a failed connect, until a probe or a request succeeds. Changed only under
  /// `health`'s lock; read without it, since every scan asks (twice) and it rarely changes.
  down: AtomicBool,
  health: Mutex<Health>,
  closed: AtomicBool,
  /// Left the endpoint set: no new work.
  draining: AtomicBool,
  connections: Arc<ConnectionCount>,
  observer: Option<Observer>,
  /// Sessions older than this take no new requests and close once answered (`maxConnectionAge`):
  /// load moves onto new replicas behind a load balancer even when nothing else changes.
  max_age: Option<Duration>,
  this: Weak<EndpointPool>,
}

/// What `metrics()` shows of an endpoint at one moment.
#[derive(Debug, Clone)]
pub struct PoolState {
  pub endpoint: Endpoint,
  pub down: bool,
  /// Left the endpoint set (discovery no longer lists it); finishing its requests.
  pub draining: bool,
  /// Open (or opening) sessions.
  pub sessions: usize,
  /// Requests holding a slot (sent or being sent).
  pub in_flight: usize,
  /// Calls waiting for a slot.
  pub queued: usize,
}

impl EndpointPool {
  pub fn new(
    connector: Connector,
    idle: Option<Duration>,
    max_connections: usize,
    connections: Arc<ConnectionCount>,
    observer: Option<Observer>,
    max_age: Option<Duration>,
  ) -> Arc<Self> {
    let max_connections = max_connections.max(1);
    Arc::new_cyclic(|this| EndpointPool {
      connector: Arc::new(connector),
      idle,
      max_connections,
      slots: Arc::new(Semaphore::new(max_connections * PIPELINE)),
      outstanding: AtomicUsize::new(0),
      sessions: Mutex::new(Vec::new()),
      down: AtomicBool::new(false),
      health: Mutex::new(Health {
        cooldown: COOLDOWN_FIRST,
        error: None,
        next_trial: None,
        trial: false,
      }),
      closed: AtomicBool::new(false),
      draining: AtomicBool::new(false),
      connections,
      observer,
      max_age,
      this: this.clone(),
    })
  }

  pub fn endpoint(&self) -> &Endpoint {
    &self.connector.endpoint
  }

  pub fn is_down(&self) -> bool {
    self.down.load(Ordering::Acquire)
  }

  /// The endpoint's state now, for `metrics()`.
  pub fn state(&self) -> PoolState {
    let capacity = self.max_connections * PIPELINE;
    let in_flight = capacity - self.slots.available_permits().min(capacity);
    let sessions = self.sessions.lock().unwrap().iter().filter(|s| !s.is_dead()).count();
    PoolState {
      endpoint: self.endpoint().clone(),
      down: self.is_down(),
      draining: self.is_draining(),
      sessions,
      in_flight,
      queued: self.outstanding().saturating_sub(in_flight),
    }
  }

  /// Whether the next attempt may use this endpoint; claims the trial of a down one.
  pub fn claim(&self) -> Availability {
    if !self.is_down() {
      return Availability::Up;
    }
    let mut health = self.health.lock().unwrap();
    if !self.is_down() {
      return Availability::Up;
    }
    let now = tokio::time::Instant::now();
    if !health.trial && health.next_trial.is_none_or(|t| t <= now) {
      health.trial = true;
      return Availability::Trial;
    }
    Availability::Down(health.error.clone())
  }

  /// Ends a trial claimed with `claim`: the next one is allowed `TRIAL_INTERVAL` later.
  pub fn end_trial(&self) {
    let mut health = self.health.lock().unwrap();
    health.trial = false;
    health.next_trial = Some(tokio::time::Instant::now() + TRIAL_INTERVAL);
  }

  /// Calls waiting for or holding a slot here: the measure for least-outstanding balancing.
  pub fn outstanding(&self) -> usize {
    self.outstanding.load(Ordering::SeqCst)
  }

  /// Counts a call against this endpoint until the guard is dropped.
  pub fn enter(self: &Arc<Self>) -> OutstandingGuard {
    self.outstanding.fetch_add(1, Ordering::SeqCst);
    OutstandingGuard(self.clone())
  }

  /// A request slot if one is free now.
  pub fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
    self.slots.clone().try_acquire_owned().ok()
  }

  /// Waits for a request slot; fails only once the pool is closed.
  pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, ClamError> {
    self.slots.clone().acquire_owned().await.map_err(|_| ClamError::Closed)
  }

  /// The session for the next request: the least loaded one, or a new one while the least
  /// loaded already has work and the connection limit allows (so that requests, streams above
  /// all, share a session's fate only when the connection limit forces it).
  ///
  /// FILDES requests get sessions of their own: clamd rejects a descriptor that reaches it in
  /// the same read as the end of an INSTREAM upload ("ancillary data sent without FILDES").
  pub fn session(&self, fildes: bool) -> Arc<Session> {
    let mut sessions = self.sessions.lock().unwrap();
    if let Some(max_age) = self.max_age {
      let now = tokio::time::Instant::now();
      for old in sessions.iter().filter(|s| s.opened_at() + max_age <= now) {
        old.retire();
      }
    }
    sessions.retain(|s| !s.is_dead());
    let best = sessions
      .iter()
      .filter(|s| s.is_fildes() == fildes && s.load() < PIPELINE)
      .min_by_key(|s| (s.is_streaming(), s.load()))
      .cloned();
    let want_new = match &best {
      None => true,
      Some(s) => (s.load() > 0 || s.is_streaming()) && sessions.len() < self.max_connections,
    };
    if want_new && sessions.len() >= self.max_connections && best.is_none() {
      // Every connection carries the other kind of request: retire the idlest one.
      if let Some(idlest) = sessions
        .iter()
        .filter(|s| s.is_fildes() != fildes)
        .min_by_key(|s| s.load())
      {
        idlest.retire();
      }
      sessions.retain(|s| !s.is_dead());
    }
    if want_new && sessions.len() < self.max_connections {
      let session = Arc::new(Session::open(
        self.connector.clone(),
        fildes,
        self.idle,
        self.connections.clone(),
      ));
      sessions.push(session.clone());
      return session;
    }
    best.unwrap_or_else(|| {
      sessions
        .iter()
        .filter(|s| s.is_fildes() == fildes)
        .min_by_key(|s| s.load())
        .cloned()
        .expect("a session of this kind exists")
    })
  }

  pub fn is_draining(&self) -> bool {
    self.draining.load(Ordering::Relaxed)
  }

  /// Takes no new work: open sessions end once their requests are answered.
  pub fn drain(&self) {
    self.draining.store(true, Ordering::Relaxed);
    for session in self.sessions.lock().unwrap().iter() {
      session.retire();
    }
  }

  /// Listed again before it finished draining: takes work again.
  pub fn undrain(&self) {
    self.draining.store(false, Ordering::Relaxed);
  }

  /// Drained: no call inside it, and every session retired (each closes once answered).
  pub fn is_drained(&self) -> bool {
    self.outstanding() == 0 && self.sessions.lock().unwrap().iter().all(|s| s.is_dead())
  }

  /// Marks the endpoint down after a failed connect and starts PING probes (the client's
  /// policy is the one caller).
  pub fn mark_down(&self, err: &ClamError) {
    let cooldown = {
      let mut health = self.health.lock().unwrap();
      health.error = Some(err.clone());
      health.next_trial = Some(tokio::time::Instant::now() + TRIAL_INTERVAL);
      if self.is_down() || self.closed.load(Ordering::Relaxed) {
        return;
      }
      self.down.store(true, Ordering::Release);
      health.cooldown
    };
    report(&self.observer, || Event::Down {
      endpoint: self.endpoint().clone(),
      error: err.clone(),
    });
    let this = self.this.clone();
    let connector = self.connector.clone();
    tokio::spawn(async move {
      let mut cooldown = cooldown;
      loop {
        tokio::time::sleep(cooldown).await;
        match this.upgrade() {
          Some(pool) if !pool.closed.load(Ordering::Relaxed) && !pool.is_draining() => {
            if crate::command::command_once(&connector, "PING", Some(PROBE_TIMEOUT), true)
              .await
              .is_ok()
            {
              pool.mark_up();
              return;
            }
          }
          _ => return,
        }
        cooldown = (cooldown * 2).min(COOLDOWN_MAX);
        if let Some(pool) = this.upgrade() {
          pool.health.lock().unwrap().cooldown = cooldown;
        }
      }
    });
  }

  /// Marks the endpoint up (a probe or a request succeeded) and resets its cooldown.
  pub fn mark_up(&self) {
    if !self.is_down() {
      // Nothing to reset: every field below is reset whenever the endpoint comes back up.
      return;
    }
    let was_down = {
      let mut health = self.health.lock().unwrap();
      let was_down = self.down.swap(false, Ordering::AcqRel);
      health.cooldown = COOLDOWN_FIRST;
      health.error = None;
      health.next_trial = None;
      was_down
    };
    if was_down {
      report(&self.observer, || Event::Up {
        endpoint: self.endpoint().clone(),
      });
    }
  }

  /// Closes the pool: waiting calls fail, sessions end and hand their requests back.
  pub fn close(&self) {
    self.closed.store(true, Ordering::Relaxed);
    self.slots.close();
    for session in self.sessions.lock().unwrap().drain(..) {
      session.kill();
    }
  }
}
