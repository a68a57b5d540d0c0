//! The client's endpoints: a set that can change while the client runs. Fixed endpoints stay;
//! a discovered name contributes one endpoint per address it resolves to, re-resolved every
//! `interval` and, at most once a second, when all of its addresses are down. New addresses
//! join; vanished ones drain (their requests finish, they take no new ones) and leave once
//! drained. Calls take a snapshot of the live endpoints, so a change never disturbs a choice in
//! progress.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::connector::Connector;
use crate::discovery::Resolver;
use crate::error::ClamError;
use crate::observe::{report, Event, Observer};
use crate::pool::{EndpointPool, PoolState};
use crate::reply_watch::ReplyWatcher;
use crate::session::ConnectionCount;
use crate::transport::Endpoint;

/// The least time between two resolutions of a name that were not due to `interval`.
const RESOLVE_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// What every pool of the client is made with.
pub struct PoolSettings {
  pub idle: Option<Duration>,
  pub connect_timeout: Option<Duration>,
  pub max_connections: usize,
  pub max_age: Option<Duration>,
  pub connections: Arc<ConnectionCount>,
  pub observer: Option<Observer>,
  pub reply_watcher: Option<Arc<dyn ReplyWatcher>>,
}

impl PoolSettings {
  fn pool(&self, endpoint: Endpoint) -> Arc<EndpointPool> {
    EndpointPool::new(
      Connector::new(
        endpoint,
        self.connect_timeout,
        self.observer.clone(),
        self.reply_watcher.clone(),
      ),
      self.idle,
      self.max_connections,
      self.connections.clone(),
      self.observer.clone(),
      self.max_age,
    )
  }
}

/// The live endpoints: replaced whole on a change.
pub type Snapshot = Arc<Vec<Arc<EndpointPool>>>;

/// A name whose addresses are endpoints (`discover: true`, `dns+tcp://`; `dns+srv://`).
struct DiscoveredName {
  /// A TCP or TLS endpoint whose host is the name: each address is this with the address as host
  /// (and, for SRV, the record's port).
  template: Endpoint,
  host: String,
  /// The targets of its `_clamd._tcp` SRV records, rather than its own addresses.
  srv: bool,
  /// The addresses it contributes now (not those another entry already had).
  members: Mutex<Vec<Endpoint>>,
  /// One resolution at a time; when the last one ended, and how.
  resolving: tokio::sync::Mutex<Option<(tokio::time::Instant, Result<(), ClamError>)>>,
  /// Wakes its refresh task early (all of its addresses are down, or the client closes).
  wake: Notify,
  refreshing: AtomicBool,
  /// A resolution of it has ended (whether or not it found anything).
  tried: AtomicBool,
}

impl DiscoveredName {
  fn endpoint_for(&self, ip: IpAddr, port: u16) -> Endpoint {
    let host = ip.to_string();
    match &self.template {
      Endpoint::Tcp { .. } => Endpoint::Tcp { host, port },
      Endpoint::Tls { tls, .. } => Endpoint::Tls {
        host,
        port,
        tls: tls.for_name(&self.host),
      },
      Endpoint::Unix { .. } => unreachable!("only TCP endpoints are discovered"),
    }
  }

  fn port(&self) -> u16 {
    match &self.template {
      Endpoint::Tcp { port, .. } | Endpoint::Tls { port, .. } => *port,
      Endpoint::Unix { .. } => 0,
    }
  }
}

pub struct EndpointSet {
  live: RwLock<Snapshot>,
  draining: Mutex<Vec<Arc<EndpointPool>>>,
  names: Vec<Arc<DiscoveredName>>,
  resolver: Resolver,
  interval: Duration,
  settings: PoolSettings,
  /// Every name has resolved once (until then, calls wait for their first resolution).
  settled: AtomicBool,
  closed: AtomicBool,
  this: Weak<EndpointSet>,
}

impl EndpointSet {
  /// `discovered`: names to resolve, each with whether it is an SRV name.
  pub fn new(
    fixed: Vec<Endpoint>,
    discovered: Vec<(Endpoint, bool)>,
    resolver: Resolver,
    interval: Duration,
    settings: PoolSettings,
  ) -> Arc<Self> {
    let live: Vec<_> = fixed.into_iter().map(|e| settings.pool(e)).collect();
    let names: Vec<_> = discovered
      .into_iter()
      .map(|(template, srv)| {
        let host = match &template {
          Endpoint::Tcp { host, .. } | Endpoint::Tls { host, .. } => host.clone(),
          Endpoint::Unix { path } => path.clone(),
        };
        Arc::new(DiscoveredName {
          template,
          host,
          srv,
          members: Mutex::new(Vec::new()),
          resolving: tokio::sync::Mutex::new(None),
          wake: Notify::new(),
          refreshing: AtomicBool::new(false),
          tried: AtomicBool::new(false),
        })
      })
      .collect();
    Arc::new_cyclic(|this| EndpointSet {
      settled: AtomicBool::new(names.is_empty()),
      live: RwLock::new(Arc::new(live)),
      draining: Mutex::new(Vec::new()),
      names,
      resolver,
      interval,
      settings,
      closed: AtomicBool::new(false),
      this: this.clone(),
    })
  }

  /// The endpoints taking work now.
  pub fn live(&self) -> Snapshot {
    self.live.read().unwrap().clone()
  }

  /// Resolves, before the first call goes out, every name not resolved yet. Fails only when
  /// no endpoint is left to try: with the error of the name that did not resolve (`ENOTFOUND`).
  /// A name that already failed does not hold up calls that have other endpoints: its refresh
  /// task is woken instead (and asks at most once a second).
  /// Every discovered name has its first resolution (always, without discovery).
  pub fn is_settled(&self) -> bool {
    self.settled.load(Ordering::Acquire)
  }

  pub async fn ready(&self) -> Result<(), ClamError> {
    if self.settled.load(Ordering::Acquire) {
      return Ok(());
    }
    let mut failure = None;
    let mut all = true;
    for name in &self.names {
      self.start_refreshing(name);
      let tried = name.tried.load(Ordering::Acquire);
      if tried && !self.live().is_empty() {
        if name.members.lock().unwrap().is_empty() {
          all = false;
          name.wake.notify_one();
        }
        continue;
      }
      if let Err(e) = self.first_resolution(name).await {
        all = false;
        failure.get_or_insert(e);
      }
    }
    if all {
      self.settled.store(true, Ordering::Release);
    }
    match failure {
      Some(e) if self.live().is_empty() => Err(e),
      _ => Ok(()),
    }
  }

  /// `pool` went down: when every address of its name is down, the name is resolved again
  /// (at most once a second), since the replicas may have moved.
  pub fn went_down(&self, pool: &EndpointPool) {
    let live = self.live();
    for name in &self.names {
      let members = name.members.lock().unwrap();
      if !members.contains(pool.endpoint()) {
        continue;
      }
      let all_down = members
        .iter()
        .all(|m| live.iter().find(|p| p.endpoint() == m).is_none_or(|p| p.is_down()));
      if all_down {
        name.wake.notify_one();
      }
    }
  }

  /// Every endpoint's state: the live ones, then those still draining.
  pub fn states(&self) -> Vec<PoolState> {
    let mut draining = self.draining.lock().unwrap();
    draining.retain(|p| !p.is_drained());
    let live = self.live();
    live.iter().chain(draining.iter()).map(|p| p.state()).collect()
  }

  /// The pool of `name` (an endpoint's display name), live or draining.
  pub fn find(&self, name: &str) -> Option<Arc<EndpointPool>> {
    let live = self.live();
    let draining = self.draining.lock().unwrap();
    live
      .iter()
      .chain(draining.iter())
      .find(|p| p.endpoint().to_string() == name)
      .cloned()
  }

  /// Ends every pool and stops the refresh tasks.
  pub fn close(&self) {
    self.closed.store(true, Ordering::SeqCst);
    for pool in self.live().iter().chain(self.draining.lock().unwrap().iter()) {
      pool.close();
    }
    for name in &self.names {
      name.wake.notify_one();
    }
  }

  /// Starts the name's refresh task once (on the runtime, with the first call).
  fn start_refreshing(&self, name: &Arc<DiscoveredName>) {
    if name.refreshing.swap(true, Ordering::SeqCst) {
      return;
    }
    let set = self.this.clone();
    let name = name.clone();
    let interval = self.interval;
    tokio::spawn(async move {
      loop {
        let early = tokio::select! {
          _ = tokio::time::sleep(interval) => false,
          _ = name.wake.notified() => true,
        };
        let Some(set) = set.upgrade() else { return };
        if set.closed.load(Ordering::SeqCst) {
          return;
        }
        let _ = set.resolve(&name, early).await;
      }
    });
  }

  /// The name's first successful resolution, shared by the calls that wait for it; after a
  /// failure, calls within the next second get that failure without asking again.
  async fn first_resolution(&self, name: &DiscoveredName) -> Result<(), ClamError> {
    let last = name.resolving.lock().await;
    match last.as_ref() {
      Some((_, Ok(()))) => Ok(()),
      Some((at, Err(e))) if at.elapsed() < RESOLVE_AT_MOST_EVERY => Err(e.clone()),
      _ => self.resolve_locked(name, last).await,
    }
  }

  /// Resolves `name` and applies the answer; one that is not due to the interval (`limited`)
  /// is skipped if the last one ended less than a second ago.
  async fn resolve(&self, name: &DiscoveredName, limited: bool) -> Result<(), ClamError> {
    let last = name.resolving.lock().await;
    if let Some((at, result)) = last.as_ref() {
      if limited && at.elapsed() < RESOLVE_AT_MOST_EVERY {
        return result.clone();
      }
    }
    self.resolve_locked(name, last).await
  }

  /// A failure keeps the addresses already known.
  async fn resolve_locked(
    &self,
    name: &DiscoveredName,
    mut last: tokio::sync::MutexGuard<'_, Option<(tokio::time::Instant, Result<(), ClamError>)>>,
  ) -> Result<(), ClamError> {
    let found = if name.srv {
      self.resolver.resolve_srv(&name.host).await
    } else {
      let port = name.port();
      (self.resolver.resolve(&name.host).await).map(|ips| ips.into_iter().map(|ip| (ip, port)).collect())
    };
    let result = found.map(|found| {
      let endpoints = found
        .into_iter()
        .map(|(ip, port)| name.endpoint_for(ip, port))
        .collect();
      self.apply(name, endpoints);
    });
    *last = Some((tokio::time::Instant::now(), result.clone()));
    name.tried.store(true, Ordering::Release);
    result
  }

  /// Makes `found` the name's addresses: new ones join, vanished ones drain.
  fn apply(&self, name: &DiscoveredName, found: Vec<Endpoint>) {
    if self.closed.load(Ordering::SeqCst) {
      return;
    }
    let mut members = name.members.lock().unwrap();
    let mut live_guard = self.live.write().unwrap();
    let mut draining = self.draining.lock().unwrap();
    let mut live: Vec<Arc<EndpointPool>> = live_guard.as_ref().clone();
    let removed: Vec<Endpoint> = members.iter().filter(|m| !found.contains(m)).cloned().collect();
    let mut added = Vec::new();
    for endpoint in &removed {
      if let Some(i) = live.iter().position(|p| p.endpoint() == endpoint) {
        let pool = live.remove(i);
        pool.drain();
        draining.push(pool);
      }
    }
    members.retain(|m| found.contains(m));
    for endpoint in found {
      if members.contains(&endpoint) || live.iter().any(|p| *p.endpoint() == endpoint) {
        // Already known (here, as a fixed endpoint, or through another name).
        continue;
      }
      // Back before it finished draining: it takes work again.
      let pool = match draining.iter().position(|p| *p.endpoint() == endpoint) {
        Some(i) => {
          let pool = draining.remove(i);
          pool.undrain();
          pool
        }
        None => self.settings.pool(endpoint.clone()),
      };
      live.push(pool);
      members.push(endpoint.clone());
      added.push(endpoint);
    }
    *live_guard = Arc::new(live);
    drop((live_guard, draining, members));
    if !added.is_empty() || !removed.is_empty() {
      report(&self.settings.observer, || Event::Discovery {
        name: name.host.clone(),
        added,
        removed,
      });
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::discovery::ResolverSpec;

  fn tcp(host: &str) -> Endpoint {
    Endpoint::Tcp {
      host: host.into(),
      port: 3310,
    }
  }

  fn set_with_events() -> (Arc<EndpointSet>, Arc<Mutex<Vec<Event>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let observer: Observer = Arc::new(move |e| sink.lock().unwrap().push(e));
    let set = EndpointSet::new(
      vec![tcp("10.0.0.1")],
      vec![(tcp("clamd.test"), false)],
      Resolver::new(ResolverSpec::System),
      Duration::from_secs(30),
      PoolSettings {
        idle: None,
        connect_timeout: None,
        max_connections: 1,
        max_age: None,
        connections: Arc::new(ConnectionCount::default()),
        observer: Some(observer),
        reply_watcher: None,
      },
    );
    (set, events)
  }

  fn live_names(set: &EndpointSet) -> Vec<String> {
    set.live().iter().map(|p| p.endpoint().to_string()).collect()
  }

  #[tokio::test]
  async fn addresses_join_and_vanished_ones_drain_then_leave() {
    let (set, events) = set_with_events();
    let name = set.names[0].clone();
    set.apply(&name, vec![tcp("10.0.0.2"), tcp("10.0.0.3")]);
    assert_eq!(
      live_names(&set),
      ["tcp://10.0.0.1:3310", "tcp://10.0.0.2:3310", "tcp://10.0.0.3:3310"]
    );
    // The same answer again changes nothing and reports nothing.
    set.apply(&name, vec![tcp("10.0.0.3"), tcp("10.0.0.2")]);
    assert_eq!(events.lock().unwrap().len(), 1);
    // 10.0.0.2 vanishes: out of the live set, draining until drained (nothing in flight: at once).
    let old = set.live()[1].clone();
    set.apply(&name, vec![tcp("10.0.0.3"), tcp("10.0.0.4")]);
    assert_eq!(
      live_names(&set),
      ["tcp://10.0.0.1:3310", "tcp://10.0.0.3:3310", "tcp://10.0.0.4:3310"]
    );
    assert!(old.is_draining());
    let states = set.states();
    assert_eq!(states.len(), 3, "a drained pool leaves the states");
    match &events.lock().unwrap()[1] {
      Event::Discovery { name, added, removed } => {
        assert_eq!(name, "clamd.test");
        assert_eq!(added, &[tcp("10.0.0.4")]);
        assert_eq!(removed, &[tcp("10.0.0.2")]);
      }
      other => panic!("unexpected event {other:?}"),
    }
    // A fixed endpoint listed by the name too stays fixed: removing it from the answer keeps it.
    set.apply(&name, vec![tcp("10.0.0.1"), tcp("10.0.0.3")]);
    set.apply(&name, vec![tcp("10.0.0.3")]);
    assert_eq!(live_names(&set), ["tcp://10.0.0.1:3310", "tcp://10.0.0.3:3310"]);
  }

  #[tokio::test]
  async fn a_pool_still_busy_keeps_draining_and_comes_back_if_listed_again() {
    let (set, _) = set_with_events();
    let name = set.names[0].clone();
    set.apply(&name, vec![tcp("10.0.0.2")]);
    let pool = set.live()[1].clone();
    let busy = pool.enter();
    set.apply(&name, vec![tcp("10.0.0.3")]);
    assert_eq!(set.states().len(), 3, "still draining while a call is inside it");
    assert!(set.states().iter().any(|s| s.draining));
    set.apply(&name, vec![tcp("10.0.0.3"), tcp("10.0.0.2")]);
    assert!(!pool.is_draining());
    assert!(Arc::ptr_eq(&set.live()[2], &pool), "the same pool takes work again");
    drop(busy);
  }

  #[tokio::test]
  async fn a_closed_set_takes_no_change() {
    let (set, _) = set_with_events();
    let name = set.names[0].clone();
    set.close();
    set.apply(&name, vec![tcp("10.0.0.2")]);
    assert_eq!(live_names(&set), ["tcp://10.0.0.1:3310"]);
  }
}
