//! What happens to a client's endpoints, reported to one observer: a connection opened, an
//! endpoint going down and coming back, a call failing over to another endpoint, a retry round, a
//! discovered name's addresses changing. JS tracing and metrics hang off this one hook.

use std::sync::Arc;

use crate::error::ClamError;
use crate::transport::Endpoint;

#[derive(Debug, Clone)]
pub enum Event {
  /// A connection to the endpoint was opened (a session's, a probe's or a command's).
  Connect { endpoint: Endpoint },
  /// The endpoint is down (a connection to it failed); calls go elsewhere until it is back.
  Down { endpoint: Endpoint, error: ClamError },
  /// The endpoint is back (a probe or a call succeeded on it after it was down).
  Up { endpoint: Endpoint },
  /// A call failed on `from` and is sent to `to` instead.
  Failover { from: Endpoint, to: Endpoint },
  /// A discovered name's addresses changed: `added` joined, `removed` drain.
  Discovery {
    name: String,
    added: Vec<Endpoint>,
    removed: Vec<Endpoint>,
  },
  /// A call starts retry round `attempt` (1 for the first retry) after `error`.
  Retry {
    endpoint: Option<Endpoint>,
    attempt: u32,
    error: ClamError,
  },
}

/// The observer: called on the runtime's threads, so it must not block.
pub type Observer = Arc<dyn Fn(Event) + Send + Sync>;

/// Reports `event` when there is an observer.
pub fn report(observer: &Option<Observer>, event: impl FnOnce() -> Event) {
  if let Some(observer) = observer {
    observer(event());
  }
}
