//! Connections to clamd: TCP or UNIX socket, with a connect deadline, errors shaped like Node's,
//! and file-descriptor passing (SCM_RIGHTS) on UNIX sockets.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

use crate::error::{ClamError, Op};

/// Where a clamd listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
  Tcp { host: String, port: u16 },
  Unix { path: String },
}

impl fmt::Display for Endpoint {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
      Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
      Endpoint::Unix { path } => write!(f, "unix:{path}"),
    }
  }
}

impl Endpoint {
  /// Parses `tcp://host:port`, `unix:/path` (also `unix:///path`) and bare absolute paths.
  pub fn parse(spec: &str) -> Option<Endpoint> {
    if let Some(rest) = spec.strip_prefix("tcp://") {
      let rest = rest.trim_end_matches('/');
      let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, port) = v6.split_once("]:")?;
        (host, port)
      } else {
        rest.rsplit_once(':')?
      };
      let port = port.parse().ok()?;
      return (!host.is_empty()).then(|| Endpoint::Tcp {
        host: host.to_string(),
        port,
      });
    }
    let path = spec
      .strip_prefix("unix://")
      .or_else(|| spec.strip_prefix("unix:"))
      .unwrap_or(spec);
    path.starts_with('/').then(|| Endpoint::Unix { path: path.to_string() })
  }

  pub fn is_unix(&self) -> bool {
    matches!(self, Endpoint::Unix { .. })
  }

  /// Node's `address`/`port` for errors about this endpoint.
  fn error_address(&self) -> (&str, Option<u16>) {
    match self {
      Endpoint::Tcp { host, port } => (host, Some(*port)),
      Endpoint::Unix { path } => (path, None),
    }
  }

  pub fn io_error(&self, err: &io::Error, op: Op) -> ClamError {
    let (address, port) = self.error_address();
    ClamError::socket(err, op, address, port)
  }
}

/// An open connection to clamd.
pub enum Conn {
  Tcp(TcpStream),
  #[cfg(unix)]
  Unix(UnixStream),
}

/// Opens a connection; `deadline` bounds name resolution and the connect itself.
pub async fn connect(endpoint: &Endpoint, deadline: Option<Duration>) -> Result<Conn, ClamError> {
  let attempt = connect_inner(endpoint);
  match deadline {
    Some(d) => tokio::time::timeout(d, attempt)
      .await
      .unwrap_or_else(|_| Err(ClamError::Timeout(d.as_millis() as u64))),
    None => attempt.await,
  }
}

async fn connect_inner(endpoint: &Endpoint) -> Result<Conn, ClamError> {
  match endpoint {
    Endpoint::Tcp { host, port } => {
      let addrs = resolve(host, *port).await?;
      let mut last = None;
      for addr in addrs {
        match TcpStream::connect(addr).await {
          Ok(stream) => {
            let _ = stream.set_nodelay(true);
            return Ok(Conn::Tcp(stream));
          }
          Err(err) => {
            last = Some(ClamError::socket(
              &err,
              Op::Connect,
              &addr.ip().to_string(),
              Some(*port),
            ))
          }
        }
      }
      Err(last.unwrap_or(ClamError::NotFound { host: host.clone() }))
    }
    #[cfg(unix)]
    Endpoint::Unix { path } => UnixStream::connect(path)
      .await
      .map(Conn::Unix)
      .map_err(|err| endpoint.io_error(&err, Op::Connect)),
    #[cfg(not(unix))]
    Endpoint::Unix { .. } => Err(ClamError::Internal(
      "UNIX sockets are not supported on this platform".into(),
    )),
  }
}

/// Resolves a host name. IP literals and `localhost` skip the resolver.
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ClamError> {
  if let Ok(ip) = host.parse::<IpAddr>() {
    return Ok(vec![SocketAddr::new(ip, port)]);
  }
  if host.eq_ignore_ascii_case("localhost") {
    return Ok(vec![SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port)]);
  }
  let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
    Ok(addrs) => addrs.collect(),
    Err(_) => vec![],
  };
  if addrs.is_empty() {
    return Err(ClamError::NotFound { host: host.to_string() });
  }
  Ok(addrs)
}

/// The reading end of a connection.
pub enum ConnRead {
  Tcp(tokio::net::tcp::OwnedReadHalf),
  #[cfg(unix)]
  Unix(tokio::net::unix::OwnedReadHalf),
}

/// The writing end of a connection; on a UNIX socket it can also pass file descriptors.
pub enum ConnWrite {
  Tcp(tokio::net::tcp::OwnedWriteHalf),
  #[cfg(unix)]
  Unix(tokio::net::unix::OwnedWriteHalf),
}

impl Conn {
  /// Splits the connection so that replies are read while requests are written.
  pub fn into_split(self) -> (ConnRead, ConnWrite) {
    match self {
      Conn::Tcp(s) => {
        let (r, w) = s.into_split();
        (ConnRead::Tcp(r), ConnWrite::Tcp(w))
      }
      #[cfg(unix)]
      Conn::Unix(s) => {
        let (r, w) = s.into_split();
        (ConnRead::Unix(r), ConnWrite::Unix(w))
      }
    }
  }
}

impl ConnRead {
  /// Acknowledges received data at once. clamd writes each pipelined reply separately with
  /// Nagle's algorithm on, so without this every second reply waits for our delayed ACK (up
  /// to 40 ms on Linux). Linux resets the flag by itself, hence a call after every read.
  pub fn quick_ack(&self) {
    #[cfg(target_os = "linux")]
    if let ConnRead::Tcp(half) = self {
      use std::os::fd::AsRawFd;
      let one: libc::c_int = 1;
      // SAFETY: setsockopt on a live TCP socket with a c_int option value.
      unsafe {
        libc::setsockopt(
          half.as_ref().as_raw_fd(),
          libc::IPPROTO_TCP,
          libc::TCP_QUICKACK,
          &one as *const libc::c_int as *const libc::c_void,
          std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
      }
    }
  }
}

impl ConnWrite {
  /// Sends `bytes` together with an open file descriptor in one SCM_RIGHTS message, as clamd's
  /// FILDES command expects.
  #[cfg(unix)]
  pub async fn send_with_fd(&self, bytes: &[u8], fd: std::os::fd::RawFd) -> io::Result<()> {
    let ConnWrite::Unix(half) = self else {
      return Err(io::Error::new(io::ErrorKind::Unsupported, "FILDES needs a UNIX socket"));
    };
    let stream: &UnixStream = half.as_ref();
    use std::os::fd::AsRawFd;
    loop {
      stream.writable().await?;
      match stream.try_io(tokio::io::Interest::WRITABLE, || send_fd(stream.as_raw_fd(), bytes, fd)) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
        Err(e) => return Err(e),
      }
    }
  }
}

impl AsyncRead for ConnRead {
  fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
    match self.get_mut() {
      ConnRead::Tcp(s) => Pin::new(s).poll_read(cx, buf),
      #[cfg(unix)]
      ConnRead::Unix(s) => Pin::new(s).poll_read(cx, buf),
    }
  }
}

impl AsyncWrite for ConnWrite {
  fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    match self.get_mut() {
      ConnWrite::Tcp(s) => Pin::new(s).poll_write(cx, buf),
      #[cfg(unix)]
      ConnWrite::Unix(s) => Pin::new(s).poll_write(cx, buf),
    }
  }

  fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    match self.get_mut() {
      ConnWrite::Tcp(s) => Pin::new(s).poll_flush(cx),
      #[cfg(unix)]
      ConnWrite::Unix(s) => Pin::new(s).poll_flush(cx),
    }
  }

  fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    match self.get_mut() {
      ConnWrite::Tcp(s) => Pin::new(s).poll_shutdown(cx),
      #[cfg(unix)]
      ConnWrite::Unix(s) => Pin::new(s).poll_shutdown(cx),
    }
  }
}

#[cfg(unix)]
fn send_fd(sock: std::os::fd::RawFd, bytes: &[u8], fd: std::os::fd::RawFd) -> io::Result<()> {
  // SAFETY: every pointer handed to sendmsg points into locals that outlive the call, and the
  // control buffer is sized with CMSG_SPACE for exactly one descriptor.
  unsafe {
    let mut iov = libc::iovec {
      iov_base: bytes.as_ptr() as *mut _,
      iov_len: bytes.len(),
    };
    let space = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize;
    let mut control = vec![0u8; space];
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut _;
    msg.msg_controllen = space as _;
    let cmsg = libc::CMSG_FIRSTHDR(&msg);
    (*cmsg).cmsg_level = libc::SOL_SOCKET;
    (*cmsg).cmsg_type = libc::SCM_RIGHTS;
    (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::c_int, fd);
    #[cfg(target_os = "linux")]
    let flags = libc::MSG_NOSIGNAL;
    #[cfg(not(target_os = "linux"))]
    let flags = 0;
    let sent = libc::sendmsg(sock, &msg, flags);
    if sent < 0 {
      return Err(io::Error::last_os_error());
    }
    if (sent as usize) < bytes.len() {
      // The descriptor went with the first byte; the rest is ordinary data, but a short send of
      // a few bytes on a fresh socket does not happen in practice, so report it plainly.
      return Err(io::Error::new(io::ErrorKind::WriteZero, "short FILDES send"));
    }
    Ok(())
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn parses_endpoint_strings() {
    assert_eq!(
      Endpoint::parse("tcp://clamav:3310"),
      Some(Endpoint::Tcp {
        host: "clamav".into(),
        port: 3310
      })
    );
    assert_eq!(
      Endpoint::parse("tcp://[::1]:3310"),
      Some(Endpoint::Tcp {
        host: "::1".into(),
        port: 3310
      })
    );
    assert_eq!(
      Endpoint::parse("unix:/run/c.sock"),
      Some(Endpoint::Unix {
        path: "/run/c.sock".into()
      })
    );
    assert_eq!(
      Endpoint::parse("unix:///run/c.sock"),
      Some(Endpoint::Unix {
        path: "/run/c.sock".into()
      })
    );
    assert_eq!(Endpoint::parse("tcp://clamav"), None);
    assert_eq!(Endpoint::parse("tcp://:3310"), None);
    assert_eq!(Endpoint::parse("relative.sock"), None);
    assert_eq!(
      Endpoint::Tcp {
        host: "::1".into(),
        port: 1
      }
      .to_string(),
      "tcp://[::1]:1"
    );
    assert_eq!(Endpoint::Unix { path: "/a".into() }.to_string(), "unix:/a");
  }
}
