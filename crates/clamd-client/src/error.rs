//! The one error type of the crate. `lib.rs` turns it into a plain object and `index.js` turns
//! that into an `Error` shaped like Node's own (`code`, `errno`, `syscall`, `address`, `port`).

use std::io;

#[derive(Debug, thiserror::Error, Clone)]
pub enum ClamError {
  /// A socket or file system call failed. Socket errors read like Node's
  /// (`connect ECONNREFUSED 127.0.0.1:3310`); for file errors (`path` set) the shim rewrites the
  /// message into Node's fs form (`EACCES: permission denied, open '/x'`) from libuv's own text.
  #[error("{}", node_message(op.as_str(), .code, .address.as_deref().or(.path.as_deref()), *.port))]
  Os {
    code: String,
    /// What was being done: the retry and failover rules match on it.
    op: Op,
    address: Option<String>,
    port: Option<u16>,
    /// The file a file-system call was about (`path` on Node's fs errors).
    path: Option<String>,
  },
  /// Name resolution failed (`getaddrinfo ENOTFOUND clamav`).
  #[error("getaddrinfo ENOTFOUND {host}")]
  NotFound { host: String },
  #[error("clamd connection timed out after {0}ms")]
  Timeout(u64),
  /// The call waited this long for a free request slot (`queueTimeout`) and was not sent.
  #[error("clamd queue wait timed out after {0}ms")]
  QueueTimeout(u64),
  /// The payload gave no data for this long: a stalled stream, a FIFO without a writer. About
  /// the upload's source, not clamd (`path` is set for a file).
  #[error("timed out after {ms}ms waiting for data from {}", .path.as_deref().unwrap_or("the stream"))]
  SourceTimeout { ms: u64, path: Option<String> },
  /// A local `clamscan` ran longer than `timeout` and was killed.
  #[error("clamscan timed out after {0}ms")]
  ClamscanTimeout(u64),
  /// The path no longer names the file that was scanned (quarantine refuses to move it).
  #[error("{0} changed since it was scanned")]
  FileChanged(String),
  /// clamd closed the connection without answering; like Node's `socket hang up`.
  #[error("clamd closed the connection without a reply")]
  HangUp,
  /// clamscan could not be started; Node's message for a failed spawn (`spawn clamscan ENOENT`).
  #[error("spawn {command} {code}")]
  Spawn {
    code: String,
    command: String,
    args: Vec<String>,
  },
  #[error("Unexpected exit code: {0}")]
  UnexpectedExit(i32),
  #[error("Process killed by signal: {0}")]
  KilledBySignal(String),
  /// The payload could not be produced (the JS stream failed or was aborted by the shim).
  #[error("{0}")]
  SourceFailed(String),
  /// The call was aborted through its AbortSignal.
  #[error("The operation was aborted")]
  Aborted,
  /// The session or client was closed (`close()`, or a sibling request's timeout or abort).
  #[error("clamd session closed")]
  Closed,
  /// clamd broke the protocol (unknown or unnumbered session reply, oversized reply).
  #[error("{0}")]
  Protocol(String),
  /// A TLS handshake or certificate failure, with the code Node's `tls` gives for it
  /// (`ERR_TLS_CERT_ALTNAME_INVALID`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, …). The endpoint is
  /// down for it, and it is never retried there: the same certificate fails the same way.
  #[error("{message}")]
  Tls {
    code: String,
    message: String,
    address: String,
    port: u16,
  },
  /// A failure that is a bug or an unsupported platform, never a verdict.
  #[error("{0}")]
  Internal(String),
}

/// The system call that failed, as Node names it in `err.syscall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
  Connect,
  Read,
  Write,
  Open,
  Fstat,
  Stat,
  Link,
  Unlink,
  Copy,
}

impl Op {
  pub fn as_str(self) -> &'static str {
    match self {
      Op::Connect => "connect",
      Op::Read => "read",
      Op::Write => "write",
      Op::Open => "open",
      Op::Fstat => "fstat",
      Op::Stat => "stat",
      Op::Link => "link",
      Op::Unlink => "unlink",
      Op::Copy => "copy",
    }
  }
}

fn node_message(syscall: &str, code: &str, address: Option<&str>, port: Option<u16>) -> String {
  match (address, port) {
    (Some(a), Some(p)) => format!("{syscall} {code} {a}:{p}"),
    (Some(a), None) => format!("{syscall} {code} {a}"),
    _ => format!("{syscall} {code}"),
  }
}

impl ClamError {
  pub fn socket(err: &io::Error, op: Op, address: &str, port: Option<u16>) -> Self {
    ClamError::Os {
      code: errno_code(err).to_string(),
      op,
      address: Some(address.to_string()),
      port,
      path: None,
    }
  }

  pub fn file(err: &io::Error, op: Op, path: &str) -> Self {
    ClamError::Os {
      code: errno_code(err).to_string(),
      op,
      address: None,
      port: None,
      path: Some(path.to_string()),
    }
  }

  /// The session broke under a request (a reset, a hang-up, a reply that breaks the protocol):
  /// the request may be sent again on a new session. Not a timeout: a slow clamd is not a dead
  /// one.
  pub fn breaks_session(&self) -> bool {
    match self {
      ClamError::Os { path: Some(_), .. } => false,
      ClamError::Os { op, .. } => matches!(op, Op::Read | Op::Write),
      ClamError::HangUp | ClamError::Protocol(_) => true,
      _ => false,
    }
  }

  /// Opening the connection failed (refused, unreachable, timed out, unknown host): the
  /// endpoint is down.
  pub fn is_connect_failure(&self) -> bool {
    matches!(
      self,
      ClamError::Os {
        path: None,
        op: Op::Connect,
        ..
      } | ClamError::NotFound { .. }
        | ClamError::Timeout(_)
        | ClamError::Tls { .. }
    )
  }

  /// A failure of the payload rather than of clamd or the connection.
  pub fn is_payload_error(&self) -> bool {
    matches!(
      self,
      ClamError::Os { path: Some(_), .. } | ClamError::SourceFailed(_) | ClamError::SourceTimeout { .. }
    )
  }

  /// The error's `code`: Node's own (`ECONNREFUSED`, …) where there is one, else this package's.
  pub fn code(&self) -> &str {
    match self {
      ClamError::Os { code, .. } | ClamError::Spawn { code, .. } | ClamError::Tls { code, .. } => code,
      ClamError::NotFound { .. } => "ENOTFOUND",
      ClamError::HangUp => "ECONNRESET",
      ClamError::Timeout(_) | ClamError::ClamscanTimeout(_) | ClamError::SourceTimeout { .. } => "ETIMEDOUT",
      ClamError::QueueTimeout(_) => "ERR_CLAMD_QUEUE_TIMEOUT",
      ClamError::FileChanged(_) => "ERR_FILE_CHANGED",
      ClamError::Aborted => "ABORT_ERR",
      ClamError::Closed => "ERR_CLAMD_SESSION_CLOSED",
      ClamError::Protocol(_) => "ERR_CLAMD_PROTOCOL",
      ClamError::UnexpectedExit(_) => "ERR_CLAMSCAN_EXIT",
      ClamError::KilledBySignal(_) => "ERR_CLAMSCAN_SIGNAL",
      ClamError::SourceFailed(_) => "ERR_SOURCE_FAILED",
      ClamError::Internal(_) => "ERR_INTERNAL",
    }
  }

  /// Errors after which the same request may be sent again: the connection failed, was reset,
  /// or went idle. Never a file error, a verdict or a local-mode failure.
  pub fn is_retryable(&self) -> bool {
    match self {
      ClamError::Os { path: Some(_), .. } => false,
      ClamError::Os { op, .. } => matches!(op, Op::Connect | Op::Read | Op::Write),
      ClamError::NotFound { .. } | ClamError::Timeout(_) | ClamError::HangUp | ClamError::Closed => true,
      _ => false,
    }
  }
}

/// The POSIX name of an I/O error, as Node reports it in `err.code`.
pub fn errno_code(err: &io::Error) -> &'static str {
  if let Some(raw) = err.raw_os_error() {
    if let Some(name) = errno_name(raw) {
      return name;
    }
  }
  use io::ErrorKind::*;
  match err.kind() {
    ConnectionRefused => "ECONNREFUSED",
    ConnectionReset => "ECONNRESET",
    ConnectionAborted => "ECONNABORTED",
    BrokenPipe => "EPIPE",
    NotFound => "ENOENT",
    PermissionDenied => "EACCES",
    TimedOut => "ETIMEDOUT",
    AddrNotAvailable => "EADDRNOTAVAIL",
    UnexpectedEof => "ECONNRESET",
    _ => "EIO",
  }
}

#[cfg(unix)]
fn errno_name(raw: i32) -> Option<&'static str> {
  let table: &[(i32, &'static str)] = &[
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::ECONNABORTED, "ECONNABORTED"),
    (libc::EPIPE, "EPIPE"),
    (libc::ENOENT, "ENOENT"),
    (libc::EACCES, "EACCES"),
    (libc::EPERM, "EPERM"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::EISDIR, "EISDIR"),
    (libc::ENOTDIR, "ENOTDIR"),
    (libc::ELOOP, "ELOOP"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    (libc::ENOTSOCK, "ENOTSOCK"),
    (libc::EPROTOTYPE, "EPROTOTYPE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ENFILE, "ENFILE"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::EINVAL, "EINVAL"),
    (libc::EIO, "EIO"),
    (libc::ENXIO, "ENXIO"),
  ];
  table.iter().find(|(n, _)| *n == raw).map(|(_, name)| *name)
}

#[cfg(not(unix))]
fn errno_name(_raw: i32) -> Option<&'static str> {
  None
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn socket_errors_read_like_node() {
    let err = io::Error::from_raw_os_error(libc::ECONNREFUSED);
    let e = ClamError::socket(&err, Op::Connect, "127.0.0.1", Some(3310));
    assert_eq!(e.to_string(), "connect ECONNREFUSED 127.0.0.1:3310");
    assert_eq!(e.code(), "ECONNREFUSED");
    assert!(e.is_retryable());
    let err = io::Error::from_raw_os_error(libc::ENOENT);
    let e = ClamError::socket(&err, Op::Connect, "/run/clamd.sock", None);
    assert_eq!(e.to_string(), "connect ENOENT /run/clamd.sock");
  }

  #[test]
  fn file_errors_are_not_retried() {
    let err = io::Error::from_raw_os_error(libc::EACCES);
    let e = ClamError::file(&err, Op::Open, "/secret");
    assert_eq!(e.to_string(), "open EACCES /secret");
    assert!(!e.is_retryable());
    assert_eq!(
      ClamError::Timeout(50).to_string(),
      "clamd connection timed out after 50ms"
    );
  }
}
