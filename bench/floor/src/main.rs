//! The bench's floor: the least a pipelined clamd client can do per scan. `SESSIONS` IDSESSION
//! connections, each with `IN_FLIGHT` INSTREAM requests outstanding, one `write` per request (command,
//! one chunk and the terminator) and replies read as they come. No pooling, no failover, no
//! timeouts, no checks beyond "every reply is `N: stream: OK`".
//!
//! Usage: clamd-floor unix:/path|tcp:host:port COUNT SIZE SESSIONS IN_FLIGHT
//! Prints `{"scans":N,"seconds":S,"cpuSeconds":C}`: C is the process's CPU time (user + system,
//! every thread) over the timed part only, so that the bench can set the floor's cost per scan
//! beside the package's.
//!
//! Usage: clamd-floor fildes /path/to/clamd.sock FILE
//! One bare FILDES request (the file's descriptor passed over the UNIX socket, nothing else); prints
//! clamd's reply. The bench times it beside path SCAN: what clamd's own descriptor scan costs.
//!
//! Usage: clamd-floor instream unix:/path|tcp:host:port FILE
//! One bare INSTREAM upload of the file, in 64 KiB chunks (the protocol crate's, and clamd's
//! default buffer), one write per chunk; prints clamd's reply: what receiving and scanning the
//! file costs clamd when a client adds nothing.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

trait Conn: Read + Write + Send {
  /// After each read on TCP: acknowledge at once (TCP_QUICKACK), as the package does, so that
  /// clamd's small replies are not held back by Nagle waiting for a delayed ACK.
  fn quick_ack(&self) {}
}
impl Conn for std::os::unix::net::UnixStream {}
impl Conn for std::net::TcpStream {
  fn quick_ack(&self) {
    extern "C" {
      fn setsockopt(fd: i32, level: i32, name: i32, value: *const std::ffi::c_void, len: u32) -> i32;
    }
    const IPPROTO_TCP: i32 = 6;
    const TCP_QUICKACK: i32 = 12;
    let one: i32 = 1;
    let fd = std::os::fd::AsRawFd::as_raw_fd(self);
    // SAFETY: a valid descriptor and a 4-byte option value.
    unsafe { setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, (&one as *const i32).cast(), 4) };
  }
}

fn connect(target: &str) -> Box<dyn Conn> {
  if let Some(path) = target.strip_prefix("unix:") {
    Box::new(std::os::unix::net::UnixStream::connect(path).expect("connect"))
  } else {
    let addr = target.strip_prefix("tcp:").expect("unix:PATH or tcp:HOST:PORT");
    let s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    Box::new(s)
  }
}

/// Unique payloads (clamd's cache is off in the bench, but unique data keeps it honest).
fn payloads(count: usize, size: usize) -> Vec<Vec<u8>> {
  let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ std::process::id() as u64;
  (0..count)
    .map(|_| {
      (0..size)
        .map(|_| {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          x as u8
        })
        .collect()
    })
    .collect()
}

fn session(target: &str, payloads: &[Vec<u8>], next: &AtomicUsize, in_flight: usize) -> usize {
  let mut conn = connect(target);
  conn.write_all(b"zIDSESSION\0").unwrap();
  let mut request = Vec::with_capacity(64 * 1024);
  let mut send = |conn: &mut Box<dyn Conn>| -> bool {
    let i = next.fetch_add(1, Ordering::Relaxed);
    let Some(p) = payloads.get(i) else { return false };
    request.clear();
    request.extend_from_slice(b"zINSTREAM\0");
    request.extend_from_slice(&(p.len() as u32).to_be_bytes());
    request.extend_from_slice(p);
    request.extend_from_slice(&[0, 0, 0, 0]);
    conn.write_all(&request).unwrap();
    true
  };
  let mut outstanding = 0;
  while outstanding < in_flight && send(&mut conn) {
    outstanding += 1;
  }
  let mut done = 0;
  let mut buf = vec![0u8; 4096];
  let mut have = 0;
  while outstanding > 0 {
    let n = conn.read(&mut buf[have..]).unwrap();
    conn.quick_ack();
    assert!(n > 0, "clamd closed the session");
    have += n;
    while let Some(end) = buf[..have].iter().position(|&b| b == 0) {
      let reply = &buf[..end];
      assert!(
        reply.ends_with(b": stream: OK"),
        "unexpected reply {:?}",
        String::from_utf8_lossy(reply)
      );
      buf.copy_within(end + 1..have, 0);
      have -= end + 1;
      outstanding -= 1;
      done += 1;
      if send(&mut conn) {
        outstanding += 1;
      }
    }
  }
  let _ = conn.write_all(b"zEND\0");
  done
}

/// This process's CPU time so far (user + system, all threads), in seconds.
fn cpu_seconds() -> f64 {
  #[repr(C)]
  struct Timeval {
    sec: i64,
    usec: i64,
  }
  #[repr(C)]
  struct Rusage {
    utime: Timeval,
    stime: Timeval,
    rest: [i64; 14],
  }
  extern "C" {
    fn getrusage(who: i32, usage: *mut Rusage) -> i32;
  }
  const RUSAGE_SELF: i32 = 0;
  let mut usage = Rusage {
    utime: Timeval { sec: 0, usec: 0 },
    stime: Timeval { sec: 0, usec: 0 },
    rest: [0; 14],
  };
  // SAFETY: `usage` has struct rusage's layout on 64-bit Linux (two timevals, then 14 longs).
  assert_eq!(unsafe { getrusage(RUSAGE_SELF, &mut usage) }, 0);
  let t = |tv: &Timeval| tv.sec as f64 + tv.usec as f64 / 1e6;
  t(&usage.utime) + t(&usage.stime)
}

/// Sends `fd` over `sock` as SCM_RIGHTS ancillary data, with one byte of payload.
fn send_fd(sock: &std::os::unix::net::UnixStream, fd: i32) {
  #[repr(C)]
  struct IoVec {
    base: *const u8,
    len: usize,
  }
  #[repr(C)]
  struct MsgHdr {
    name: *mut std::ffi::c_void,
    namelen: u32,
    iov: *const IoVec,
    iovlen: usize,
    control: *mut u8,
    controllen: usize,
    flags: i32,
  }
  extern "C" {
    fn sendmsg(fd: i32, msg: *const MsgHdr, flags: i32) -> isize;
  }
  const SOL_SOCKET: i32 = 1;
  const SCM_RIGHTS: i32 = 1;
  // struct cmsghdr { size_t len; int level; int type; } then the int, padded to 8: CMSG_SPACE(4).
  let mut control = [0u8; 24];
  control[..8].copy_from_slice(&20usize.to_ne_bytes()); // CMSG_LEN(4)
  control[8..12].copy_from_slice(&SOL_SOCKET.to_ne_bytes());
  control[12..16].copy_from_slice(&SCM_RIGHTS.to_ne_bytes());
  control[16..20].copy_from_slice(&fd.to_ne_bytes());
  let byte = [0u8];
  let iov = IoVec {
    base: byte.as_ptr(),
    len: 1,
  };
  let msg = MsgHdr {
    name: std::ptr::null_mut(),
    namelen: 0,
    iov: &iov,
    iovlen: 1,
    control: control.as_mut_ptr(),
    controllen: control.len(),
    flags: 0,
  };
  // SAFETY: `msg` points at live buffers laid out as struct msghdr / iovec / cmsghdr on 64-bit Linux.
  assert_eq!(
    unsafe { sendmsg(std::os::fd::AsRawFd::as_raw_fd(sock), &msg, 0) },
    1,
    "sendmsg"
  );
}

/// One bare FILDES: the command, then the descriptor in a separate send (clamd rejects ancillary
/// data that arrives with the command), then the reply.
fn fildes(socket: &str, file: &str) {
  let mut conn = std::os::unix::net::UnixStream::connect(socket).expect("connect");
  let file = std::fs::File::open(file).expect("open");
  conn.write_all(b"zFILDES\0").unwrap();
  send_fd(&conn, std::os::fd::AsRawFd::as_raw_fd(&file));
  print_reply(conn);
}

/// One bare INSTREAM upload of `file`, then the reply.
fn instream(target: &str, file: &str) {
  let mut conn = connect(target);
  let mut file = std::fs::File::open(file).expect("open");
  let mut chunk = vec![0u8; 4 + 64 * 1024];
  conn.write_all(b"zINSTREAM\0").unwrap();
  loop {
    let n = file.read(&mut chunk[4..]).unwrap();
    chunk[..4].copy_from_slice(&(n as u32).to_be_bytes());
    conn.write_all(&chunk[..4 + n]).unwrap();
    if n == 0 {
      break;
    }
  }
  print_reply(conn);
}

/// Prints clamd's reply to a one-request connection, which clamd closes after it.
fn print_reply(mut conn: impl Read) {
  let mut reply = Vec::new();
  conn.read_to_end(&mut reply).unwrap();
  println!("{}", String::from_utf8_lossy(&reply).trim_end_matches('\0'));
}

fn main() {
  let args: Vec<String> = std::env::args().collect();
  if let [_, mode, target, file] = &args[..] {
    return match mode.as_str() {
      "fildes" => fildes(target, file),
      "instream" => instream(target, file),
      _ => panic!("usage: clamd-floor fildes SOCKET FILE | instream TARGET FILE"),
    };
  }
  let [_, target, count, size, sessions, in_flight] = &args[..] else {
    panic!("usage: clamd-floor unix:/path|tcp:host:port COUNT SIZE SESSIONS IN_FLIGHT");
  };
  let count: usize = count.parse().unwrap();
  let payloads = Arc::new(payloads(count, size.parse().unwrap()));
  let sessions: usize = sessions.parse().unwrap();
  let in_flight: usize = in_flight.parse().unwrap();
  let next = Arc::new(AtomicUsize::new(0));
  let cpu_before = cpu_seconds();
  let started = Instant::now();
  let threads: Vec<_> = (0..sessions)
    .map(|_| {
      let (target, payloads, next) = (target.clone(), payloads.clone(), next.clone());
      std::thread::spawn(move || session(&target, &payloads, &next, in_flight))
    })
    .collect();
  let scans: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
  let seconds = started.elapsed().as_secs_f64();
  let cpu = cpu_seconds() - cpu_before;
  assert_eq!(scans, count);
  println!("{{\"scans\":{scans},\"seconds\":{seconds},\"cpuSeconds\":{cpu}}}");
}
