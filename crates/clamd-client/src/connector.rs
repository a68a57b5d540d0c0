//! One endpoint's way in: its address (with TLS settings, if any) and the connect deadline.
//! Every connection to the endpoint (a session, a health probe, a command) is opened here, and
//! each one opened is reported to the client's observer. Its sessions' replies are read by the
//! client's reply watcher when it has one (`reply_watch`).

use std::sync::Arc;
use std::time::Duration;

use crate::error::ClamError;
use crate::observe::{report, Event, Observer};
use crate::reply_watch::ReplyWatcher;
use crate::transport::{self, Conn, Endpoint};

pub struct Connector {
  pub endpoint: Endpoint,
  connect_timeout: Option<Duration>,
  observer: Option<Observer>,
  pub reply_watcher: Option<Arc<dyn ReplyWatcher>>,
}

impl Connector {
  pub fn new(
    endpoint: Endpoint,
    connect_timeout: Option<Duration>,
    observer: Option<Observer>,
    reply_watcher: Option<Arc<dyn ReplyWatcher>>,
  ) -> Self {
    Connector {
      endpoint,
      connect_timeout,
      observer,
      reply_watcher,
    }
  }

  /// Opens a connection within the endpoint's connect deadline.
  pub async fn connect(&self) -> Result<Conn, ClamError> {
    self.opened(transport::connect(&self.endpoint, self.connect_timeout).await)
  }

  /// Opens a connection within `limit` too, whichever is shorter (health probes).
  pub async fn connect_within(&self, limit: Duration) -> Result<Conn, ClamError> {
    let deadline = Some(self.connect_timeout.map_or(limit, |d| d.min(limit)));
    self.opened(transport::connect(&self.endpoint, deadline).await)
  }

  fn opened(&self, conn: Result<Conn, ClamError>) -> Result<Conn, ClamError> {
    if conn.is_ok() {
      report(&self.observer, || Event::Connect {
        endpoint: self.endpoint.clone(),
      });
    }
    conn
  }
}
