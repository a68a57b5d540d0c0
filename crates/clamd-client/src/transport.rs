//! Connections to clamd: TCP, TLS over TCP, or UNIX socket, with a connect deadline, errors
//! shaped like Node's, and file-descriptor passing (SCM_RIGHTS) on UNIX sockets.

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
use crate::tls::{self, TlsSettings};

/// Where a clamd listens, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
  Tcp {
    host: String,
    port: u16,
  },
  /// TCP with TLS (a terminator such as stunnel in front of clamd).
  Tls {
    host: String,
    port: u16,
    tls: TlsSettings,
  },
  Unix {
    path: String,
  },
}

impl fmt::Display for Endpoint {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
      Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
      Endpoint::Tls { host, port, .. } if host.contains(':') => write!(f, "tls://[{host}]:{port}"),
      Endpoint::Tls { host, port, .. } => write!(f, "tls://{host}:{port}"),
      Endpoint::Unix { path } => write!(f, "unix:{path}"),
    }
  }
}

impl Endpoint {
  pub fn is_unix(&self) -> bool {
    matches!(self, Endpoint::Unix { .. })
  }

  /// Node's `address`/`port` for errors about this endpoint.
  fn error_address(&self) -> (&str, Option<u16>) {
    match self {
      Endpoint::Tcp { host, port } | Endpoint::Tls { host, port, .. } => (host, Some(*port)),
      Endpoint::Unix { path } => (path, None),
    }
  }

  /// A socket error on a connection to this endpoint; on a TLS one, an alert or a broken record
  /// is a TLS error with Node's code.
  pub fn io_error(&self, err: &io::Error, op: Op) -> ClamError {
    let (address, port) = self.error_address();
    if let Endpoint::Tls { host, port, .. } = self {
      if let Some(tls_err) = tls::tls_error(err, host, *port) {
        return tls_err;
      }
    }
    ClamError::socket(err, op, address, port)
  }
}

type TlsTcp = tokio_rustls::client::TlsStream<TcpStream>;

/// An open connection to clamd.
pub enum Conn {
  Tcp(TcpStream),
  Tls(Box<TlsTcp>),
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
    Endpoint::Tcp { host, port } => tcp_connect(host, *port).await.map(Conn::Tcp),
    Endpoint::Tls { host, port, tls } => {
      let tcp = tcp_connect(host, *port).await?;
      tls.handshake(tcp, host, *port).await.map(|s| Conn::Tls(Box::new(s)))
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

/// A TCP connection to the first of the host's addresses that accepts one.
async fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, ClamError> {
  let addrs = resolve(host, port).await?;
  let mut last = None;
  for addr in addrs {
    match TcpStream::connect(addr).await {
      Ok(stream) => {
        let _ = stream.set_nodelay(true);
        return Ok(stream);
      }
      Err(err) => last = Some(ClamError::socket(&err, Op::Connect, &addr.ip().to_string(), Some(port))),
    }
  }
  Err(last.unwrap_or(ClamError::NotFound { host: host.to_string() }))
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
  /// The TLS stream's reading half, and its socket's descriptor (for the quick ACK).
  Tls(tokio::io::ReadHalf<TlsTcp>, Option<i32>),
  #[cfg(unix)]
  Unix(tokio::net::unix::OwnedReadHalf),
}

/// The writing end of a connection; on a UNIX socket it can also pass file descriptors.
pub enum ConnWrite {
  Tcp(tokio::net::tcp::OwnedWriteHalf),
  Tls(tokio::io::WriteHalf<TlsTcp>),
  #[cfg(unix)]
  Unix(tokio::net::unix::OwnedWriteHalf),
  /// A TCP or UNIX socket whose replies are read off the runtime (`Reading::Elsewhere`).
  #[cfg(unix)]
  Watched(WatchedWrite),
}

/// Who reads a connection's replies.
pub enum Reading {
  /// The runtime, through this reading end.
  Runtime(ConnRead),
  /// Whoever is given this descriptor of the socket (`reply_watch`).
  #[cfg(unix)]
  Elsewhere(std::os::fd::OwnedFd),
}

/// The writing end of a socket whose replies another thread reads. The runtime watches it only
/// while a write waits for room: registered for writing all along, it would be woken each time
/// room frees up in the send buffer, that is as clamd reads each request (and over TCP with each
/// acknowledgement), which is about once per scan (`strace`: 0.84 `epoll_wait` per scan). Dropping
/// it shuts the socket down, so that the reading thread sees the end at once and closes its
/// descriptor too.
#[cfg(unix)]
pub struct WatchedWrite {
  /// The runtime's watch while a write waits for room (dropped before `fd`: fields drop in order).
  waiting: std::sync::Mutex<Option<tokio::io::unix::AsyncFd<RawSocket>>>,
  fd: std::os::fd::OwnedFd,
  unix: bool,
}

/// A socket's descriptor, owned elsewhere (by the `WatchedWrite` it is registered for).
#[cfg(unix)]
struct RawSocket(std::os::fd::RawFd);

#[cfg(unix)]
impl std::os::fd::AsRawFd for RawSocket {
  fn as_raw_fd(&self) -> std::os::fd::RawFd {
    self.0
  }
}

#[cfg(unix)]
impl WatchedWrite {
  fn raw(&self) -> std::os::fd::RawFd {
    use std::os::fd::AsRawFd;
    self.fd.as_raw_fd()
  }

  /// The runtime's watch of the socket for room, made now if there is none.
  fn watch_for_room(
    &self,
    waiting: &mut Option<tokio::io::unix::AsyncFd<RawSocket>>,
  ) -> io::Result<tokio::io::unix::AsyncFd<RawSocket>> {
    match waiting.take() {
      Some(watch) => Ok(watch),
      // SAFETY: `fd` stays open, the same socket, for as long as the watch lives (it is dropped
      // before `fd`, or earlier).
      None => Ok(unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(RawSocket(self.raw()), tokio::io::Interest::WRITABLE)?
      }),
    }
  }

  /// Runs `op` (a send that does not block) until it has room, waiting for room in between.
  fn poll_send<R>(
    &self,
    cx: &mut Context<'_>,
    mut op: impl FnMut(std::os::fd::RawFd) -> io::Result<R>,
  ) -> Poll<io::Result<R>> {
    let mut waiting = self.waiting.lock().unwrap();
    loop {
      if waiting.is_none() {
        match op(self.raw()) {
          Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
          done => return Poll::Ready(done),
        }
      }
      let watch = self.watch_for_room(&mut waiting)?;
      let polled = watch
        .poll_write_ready(cx)
        .map(|ready| ready.map(|mut ready| ready.try_io(|io| op(io.get_ref().0))));
      match polled {
        Poll::Pending => {
          *waiting = Some(watch);
          return Poll::Pending;
        }
        Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
        // Room, and the send went through (or failed otherwise): the watch goes.
        Poll::Ready(Ok(Ok(done))) => return Poll::Ready(done),
        // It was full again (readiness cleared): wait on.
        Poll::Ready(Ok(Err(_would_block))) => *waiting = Some(watch),
      }
    }
  }
}

#[cfg(unix)]
impl Drop for WatchedWrite {
  fn drop(&mut self) {
    // SAFETY: shutdown on the socket this struct owns, which is still open.
    unsafe { libc::shutdown(self.raw(), libc::SHUT_RDWR) };
  }
}

/// `send` without SIGPIPE (a peer that closed makes it fail with EPIPE instead).
#[cfg(unix)]
fn send(fd: std::os::fd::RawFd, bytes: &[u8]) -> io::Result<usize> {
  #[cfg(target_os = "linux")]
  let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
  #[cfg(not(target_os = "linux"))]
  let flags = libc::MSG_DONTWAIT;
  // SAFETY: a live socket and a buffer of `bytes.len()` bytes.
  let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), flags) };
  if n < 0 {
    Err(io::Error::last_os_error())
  } else {
    Ok(n as usize)
  }
}

impl Conn {
  /// Splits the connection so that replies are read while requests are written. With
  /// `elsewhere`, a TCP or UNIX connection's replies are to be read off the runtime: the reading
  /// side is a second descriptor of the socket (TLS is always read by the runtime).
  pub fn split(self, elsewhere: bool) -> io::Result<(Reading, ConnWrite)> {
    #[cfg(unix)]
    if elsewhere {
      use std::os::fd::OwnedFd;
      let (fd, unix): (OwnedFd, bool) = match self {
        Conn::Tcp(s) => (s.into_std()?.into(), false),
        Conn::Unix(s) => (s.into_std()?.into(), true),
        tls => {
          let (rd, wr) = tls.into_split();
          return Ok((Reading::Runtime(rd), wr));
        }
      };
      let reading = fd.try_clone()?;
      let write = WatchedWrite {
        waiting: std::sync::Mutex::new(None),
        fd,
        unix,
      };
      return Ok((Reading::Elsewhere(reading), ConnWrite::Watched(write)));
    }
    let _ = elsewhere;
    let (rd, wr) = self.into_split();
    Ok((Reading::Runtime(rd), wr))
  }

  pub fn into_split(self) -> (ConnRead, ConnWrite) {
    match self {
      Conn::Tcp(s) => {
        let (r, w) = s.into_split();
        (ConnRead::Tcp(r), ConnWrite::Tcp(w))
      }
      Conn::Tls(s) => {
        #[cfg(unix)]
        let fd = {
          use std::os::fd::AsRawFd;
          Some(s.get_ref().0.as_raw_fd())
        };
        #[cfg(not(unix))]
        let fd = None;
        let (r, w) = tokio::io::split(*s);
        (ConnRead::Tls(r, fd), ConnWrite::Tls(w))
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
  /// Acknowledges received data at once (see `quick_ack`).
  pub fn quick_ack(&self) {
    #[cfg(target_os = "linux")]
    let fd = match self {
      ConnRead::Tcp(half) => {
        use std::os::fd::AsRawFd;
        Some(half.as_ref().as_raw_fd())
      }
      ConnRead::Tls(_, fd) => *fd,
      #[cfg(unix)]
      ConnRead::Unix(_) => None,
    };
    #[cfg(target_os = "linux")]
    if let Some(fd) = fd {
      quick_ack(fd);
    }
  }
}

/// Acknowledges received data on TCP socket `fd` at once. clamd writes each pipelined reply
/// separately with Nagle's algorithm on, so without this every second reply waits for our
/// delayed ACK (up to 40 ms on Linux). Linux resets the flag by itself, hence a call after every
/// read. Does nothing elsewhere.
#[cfg(unix)]
pub fn quick_ack(fd: std::os::fd::RawFd) {
  #[cfg(target_os = "linux")]
  {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a live TCP socket with a c_int option value.
    unsafe {
      libc::setsockopt(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_QUICKACK,
        &one as *const libc::c_int as *const libc::c_void,
        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
      );
    }
  }
  #[cfg(not(target_os = "linux"))]
  let _ = fd;
}

impl ConnWrite {
  /// Whether `try_write` can write: not on TLS, whose records are written by the session's task.
  pub fn writes_at_once(&self) -> bool {
    !matches!(self, ConnWrite::Tls(_))
  }

  /// Writes what the socket takes now, without waiting (`WouldBlock` when it takes nothing, and
  /// always on TLS).
  pub fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
    match self {
      ConnWrite::Tcp(half) => half.try_write(bytes),
      ConnWrite::Tls(_) => Err(io::ErrorKind::WouldBlock.into()),
      #[cfg(unix)]
      ConnWrite::Unix(half) => half.try_write(bytes),
      #[cfg(unix)]
      ConnWrite::Watched(w) => send(w.raw(), bytes),
    }
  }

  /// The socket's descriptor when its replies are read off the runtime: the session reads it
  /// itself when a reply deadline falls due (the reading thread may be busy).
  #[cfg(unix)]
  pub fn watched_fd(&self) -> Option<std::os::fd::RawFd> {
    match self {
      ConnWrite::Watched(w) => Some(w.raw()),
      _ => None,
    }
  }

  /// Sends `bytes` together with an open file descriptor in one SCM_RIGHTS message, as clamd's
  /// FILDES command expects.
  #[cfg(unix)]
  pub async fn send_with_fd(&self, bytes: &[u8], fd: std::os::fd::RawFd) -> io::Result<()> {
    if let ConnWrite::Watched(w) = self {
      if !w.unix {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "FILDES needs a UNIX socket"));
      }
      return std::future::poll_fn(|cx| w.poll_send(cx, |sock| send_fd(sock, bytes, fd))).await;
    }
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
      ConnRead::Tls(s, _) => Pin::new(s).poll_read(cx, buf),
      #[cfg(unix)]
      ConnRead::Unix(s) => Pin::new(s).poll_read(cx, buf),
    }
  }
}

impl AsyncWrite for ConnWrite {
  fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    match self.get_mut() {
      ConnWrite::Tcp(s) => Pin::new(s).poll_write(cx, buf),
      ConnWrite::Tls(s) => Pin::new(s).poll_write(cx, buf),
      #[cfg(unix)]
      ConnWrite::Unix(s) => Pin::new(s).poll_write(cx, buf),
      #[cfg(unix)]
      ConnWrite::Watched(w) => w.poll_send(cx, |sock| send(sock, buf)),
    }
  }

  fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    match self.get_mut() {
      ConnWrite::Tcp(s) => Pin::new(s).poll_flush(cx),
      ConnWrite::Tls(s) => Pin::new(s).poll_flush(cx),
      #[cfg(unix)]
      ConnWrite::Unix(s) => Pin::new(s).poll_flush(cx),
      #[cfg(unix)]
      ConnWrite::Watched(_) => Poll::Ready(Ok(())),
    }
  }

  fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    match self.get_mut() {
      ConnWrite::Tcp(s) => Pin::new(s).poll_shutdown(cx),
      ConnWrite::Tls(s) => Pin::new(s).poll_shutdown(cx),
      #[cfg(unix)]
      ConnWrite::Unix(s) => Pin::new(s).poll_shutdown(cx),
      #[cfg(unix)]
      ConnWrite::Watched(w) => {
        // SAFETY: shutdown on the live socket `w` owns.
        let rc = unsafe { libc::shutdown(w.raw(), libc::SHUT_WR) };
        Poll::Ready(if rc < 0 {
          Err(io::Error::last_os_error())
        } else {
          Ok(())
        })
      }
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
  fn endpoints_display_as_urls() {
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
