//! A tokio clamd client without Node: transport (TCP, UNIX sockets, descriptor passing), what is
//! uploaded (sources), pipelined IDSESSION sessions, endpoint pools with health, the client's
//! failover, replay and retry rules, and local `clamscan`. One error type, [`error::ClamError`].
//!
//! Layers, each importing only those above it in this list: `error`, `cancel`, `tls`, `transport`,
//! `observe`, `reply_watch`, `connector`, `discovery`, `metrics`, `file`, `source`, `command`,
//! `session`, `pool`, `endpoints`, `client`, `local`.

#![deny(clippy::all)]
// A failed request carries its body back for a replay; failures are rare, so no boxing.
#![allow(clippy::result_large_err)]

pub use clamd_protocol as protocol;

pub mod cancel;
pub mod client;
pub mod command;
pub mod connector;
pub mod discovery;
pub mod endpoints;
pub mod error;
pub mod file;
pub mod local;
pub mod metrics;
pub mod observe;
pub mod pool;
pub mod reply_watch;
pub mod session;
pub mod source;
pub mod tls;
pub mod transport;
