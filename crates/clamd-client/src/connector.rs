//! One endpoint's way in: its address (with TLS settings, if any) and the connect deadline.
//! Every connection to the endpoint (a session, a health probe, a command) is opened here.

use std::time::Duration;

use crate::error::ClamError;
use crate::transport::{self, Conn, Endpoint};

#[derive(Debug)]
pub struct Connector {
  pub endpoint: Endpoint,
  connect_timeout: Option<Duration>,
}

impl Connector {
  pub fn new(endpoint: Endpoint, connect_timeout: Option<Duration>) -> Self {
    Connector {
      endpoint,
      connect_timeout,
    }
  }

  /// Opens a connection within the endpoint's connect deadline.
  pub async fn connect(&self) -> Result<Conn, ClamError> {
    transport::connect(&self.endpoint, self.connect_timeout).await
  }

  /// Opens a connection within `limit` too, whichever is shorter (health probes).
  pub async fn connect_within(&self, limit: Duration) -> Result<Conn, ClamError> {
    let deadline = Some(self.connect_timeout.map_or(limit, |d| d.min(limit)));
    transport::connect(&self.endpoint, deadline).await
  }
}
