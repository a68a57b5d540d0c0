//! Reading replies off the runtime. A session's replies can be read by whoever watches its socket
//! for it: in the Node binding, the JS thread's event loop (`uv_poll`), which must wake for each
//! verdict anyway. A reply then wakes that one thread, instead of the runtime's thread, which
//! read it, and then the JS thread, which was handed it (measured: `npm run bench`'s addon floor).
//! Without a watcher the runtime reads, as for TLS, whose records the runtime decodes.

use std::os::fd::{OwnedFd, RawFd};
use std::sync::Arc;

/// What a watcher calls when the socket it watches is readable.
pub trait ReplySink: Send + Sync {
  /// Reads what `fd` holds now and hands each reply to its request. `false`: the session has
  /// stopped reading (it ended, or clamd closed the connection); stop watching and close `fd`.
  fn readable(&self, fd: RawFd) -> bool;

  /// The watcher stopped watching on its own (it could not start, or its thread is ending): the
  /// session can no longer hear clamd, and ends.
  fn unwatched(&self);
}

/// Watches sockets for readability, on its own thread.
pub trait ReplyWatcher: Send + Sync {
  /// Starts watching `fd`, the watcher's own descriptor of a session's socket (it closes it when
  /// done), calling `sink` whenever it is readable. Gives both back when it cannot (its thread
  /// is gone): the session then cannot hear clamd and ends.
  fn watch(&self, fd: OwnedFd, sink: Arc<dyn ReplySink>) -> Result<(), (OwnedFd, Arc<dyn ReplySink>)>;
}
