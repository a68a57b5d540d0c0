//! The bench's Node-hosted floor: the least a native clamd client inside Node can do per scan.
//! The same protocol as `bench/floor` (Rust) and `bench/floor-js.js`: `sessions` IDSESSION
//! connections, requests spread over them, one `send` per request (command, one chunk and the
//! terminator) from the JS thread, replies read on the JS thread as libuv reports the socket
//! readable (`uv_poll`), one promise per scan resolved there. There is no other thread: no
//! runtime, no threadsafe function. No pooling, failover, timeouts or checks beyond "the reply is
//! `N: stream: OK`".
//!
//! It shows what a client inside Node can reach at the least: this package also reads replies on
//! the JS thread (`src/reply_watch.rs`), and does its own work per call besides.
//! Usage (bench/bench.js): `open('unix:/path' | 'tcp:host:port', sessions)`, then `scan(buffer)`
//! → `Promise<boolean>` (true for OK), then `close()`. One client per thread, on that thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

// libuv, as Node exports it to addons. `uv_handle_size` spares this crate libuv's struct layouts.
extern "C" {
  fn uv_handle_size(kind: c_int) -> usize;
  fn uv_poll_init(event_loop: *mut c_void, handle: *mut c_void, fd: c_int) -> c_int;
  fn uv_poll_start(handle: *mut c_void, events: c_int, cb: extern "C" fn(*mut c_void, c_int, c_int)) -> c_int;
  fn uv_poll_stop(handle: *mut c_void) -> c_int;
  fn uv_close(handle: *mut c_void, cb: extern "C" fn(*mut c_void));
  fn uv_handle_set_data(handle: *mut c_void, data: *mut c_void);
  fn uv_handle_get_data(handle: *const c_void) -> *mut c_void;
}
/// `UV_POLL` in `uv_handle_type`, and `UV_READABLE`.
const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;

struct Session {
  fd: c_int,
  tcp: bool,
  poll: *mut c_void,
  /// The number of the last request sent: clamd numbers its replies by arrival order, from 1.
  last_id: u64,
  waiting: HashMap<u64, sys::napi_deferred>,
  /// Bytes of a reply whose NUL has not arrived yet.
  partial: Vec<u8>,
}

struct Floor {
  env: sys::napi_env,
  /// An async resource for the callback scope in which promises are resolved, so that their
  /// continuations (microtasks) run before control returns to libuv, as after any I/O callback.
  resource: sys::napi_ref,
  context: sys::napi_async_context,
  sessions: Vec<Session>,
  request: Vec<u8>,
  read_buf: Vec<u8>,
}

thread_local! {
  static FLOOR: RefCell<Option<Floor>> = const { RefCell::new(None) };
}

fn fail(reason: impl std::fmt::Display) -> Error {
  Error::from_reason(format!("floor addon: {reason}"))
}

fn connect(target: &str) -> Result<(c_int, bool)> {
  let (fd, tcp) = if let Some(path) = target.strip_prefix("unix:") {
    let mut s = std::os::unix::net::UnixStream::connect(path).map_err(fail)?;
    s.write_all(b"zIDSESSION\0").map_err(fail)?;
    s.set_nonblocking(true).map_err(fail)?;
    (s.into_raw_fd(), false)
  } else {
    let addr = target
      .strip_prefix("tcp:")
      .ok_or_else(|| fail("unix:PATH or tcp:HOST:PORT"))?;
    let mut s = std::net::TcpStream::connect(addr).map_err(fail)?;
    s.set_nodelay(true).map_err(fail)?;
    s.write_all(b"zIDSESSION\0").map_err(fail)?;
    s.set_nonblocking(true).map_err(fail)?;
    (s.into_raw_fd(), true)
  };
  Ok((fd, tcp))
}

/// Opens `sessions` IDSESSION connections to `target`, each watched by a `uv_poll` on this
/// thread's loop.
#[napi]
pub fn open(env: Env, target: String, sessions: u32) -> Result<()> {
  let raw = env.raw();
  let mut event_loop = ptr::null_mut();
  let (mut object, mut resource, mut name, mut context) =
    (ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
  // SAFETY: napi calls on this env, from its own thread, with out-pointers to locals.
  unsafe {
    sys::napi_get_uv_event_loop(raw, &mut event_loop);
    sys::napi_create_object(raw, &mut object);
    sys::napi_create_reference(raw, object, 1, &mut resource);
    sys::napi_create_string_utf8(raw, c"clamd-floor".as_ptr(), 11, &mut name);
    sys::napi_async_init(raw, object, name, &mut context);
  }
  let mut list = Vec::new();
  for index in 0..sessions as usize {
    let (fd, tcp) = connect(&target)?;
    // SAFETY: a handle of uv_poll_t's size, initialised for a valid descriptor on this thread's
    // loop; freed by `closed` after uv_close.
    let poll = unsafe {
      let poll = libc::malloc(uv_handle_size(UV_POLL));
      if uv_poll_init(event_loop.cast(), poll, fd) != 0 {
        return Err(fail("uv_poll_init failed"));
      }
      uv_handle_set_data(poll, index as *mut c_void);
      uv_poll_start(poll, UV_READABLE, readable);
      poll
    };
    list.push(Session {
      fd,
      tcp,
      poll,
      last_id: 0,
      waiting: HashMap::new(),
      partial: Vec::new(),
    });
  }
  FLOOR.with(|f| {
    *f.borrow_mut() = Some(Floor {
      env: raw,
      resource,
      context,
      sessions: list,
      request: Vec::with_capacity(8192),
      read_buf: vec![0; 16 * 1024],
    })
  });
  Ok(())
}

/// Sends one INSTREAM request for `data` on the session with the fewest waiting: a promise of
/// `true` for `N: stream: OK`, `false` for any other reply or a broken connection.
#[napi(ts_return_type = "Promise<boolean>")]
pub fn scan(env: Env, data: &[u8]) -> Result<Unknown<'_>> {
  let raw = env.raw();
  FLOOR.with(|f| {
    let mut guard = f.borrow_mut();
    let floor = guard.as_mut().ok_or_else(|| fail("not open"))?;
    let index = (0..floor.sessions.len())
      .min_by_key(|&i| floor.sessions[i].waiting.len())
      .ok_or_else(|| fail("no session"))?;
    let session = &mut floor.sessions[index];
    let request = &mut floor.request;
    request.clear();
    request.extend_from_slice(b"zINSTREAM\0");
    request.extend_from_slice(&(data.len() as u32).to_be_bytes());
    request.extend_from_slice(data);
    request.extend_from_slice(&0u32.to_be_bytes());
    let mut sent = 0;
    while sent < request.len() {
      // SAFETY: a valid descriptor and the unsent part of `request`. Blocking on a full socket
      // buffer is acceptable for a floor (4 KiB requests never fill it).
      let n = unsafe {
        libc::send(
          session.fd,
          request[sent..].as_ptr().cast(),
          request.len() - sent,
          libc::MSG_NOSIGNAL,
        )
      };
      if n < 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::WouldBlock {
          continue;
        }
        return Err(fail(err));
      }
      sent += n as usize;
    }
    session.last_id += 1;
    let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: napi call on this env from its thread.
    unsafe { sys::napi_create_promise(raw, &mut deferred, &mut promise) };
    session.waiting.insert(session.last_id, deferred);
    // SAFETY: `promise` is a live value of this env, in the caller's handle scope.
    Ok(unsafe { Unknown::from_raw_unchecked(raw, promise) })
  })
}

/// libuv: a session's socket is readable. Reads what is there, then resolves the answered
/// promises in one callback scope.
extern "C" fn readable(handle: *mut c_void, _status: c_int, _events: c_int) {
  // SAFETY: set in `open` to the session's index.
  let index = unsafe { uv_handle_get_data(handle) } as usize;
  FLOOR.with(|f| {
    let mut guard = f.borrow_mut();
    let Some(floor) = guard.as_mut() else { return };
    let mut answered: Vec<(sys::napi_deferred, bool)> = Vec::new();
    let session = &mut floor.sessions[index];
    let mut broken = false;
    loop {
      let buf = &mut floor.read_buf;
      // SAFETY: a valid descriptor and a buffer of `buf.len()` bytes.
      let n = unsafe { libc::recv(session.fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
      if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock {
        break;
      }
      if n <= 0 {
        broken = true;
        break;
      }
      if session.tcp {
        quick_ack(session.fd);
      }
      session.partial.extend_from_slice(&buf[..n as usize]);
      let mut start = 0;
      while let Some(len) = session.partial[start..].iter().position(|&b| b == 0) {
        let reply = &session.partial[start..start + len];
        start += len + 1;
        let id = reply
          .split(|&b| b == b':')
          .next()
          .and_then(|n| std::str::from_utf8(n).ok()?.parse::<u64>().ok());
        match id.and_then(|id| session.waiting.remove(&id)) {
          Some(deferred) => answered.push((deferred, reply.ends_with(b": stream: OK"))),
          None => broken = true,
        }
      }
      session.partial.drain(..start);
    }
    if broken {
      // Every waiting scan gets `false`: the bench counts it as a wrong verdict and stops.
      answered.extend(session.waiting.drain().map(|(_, d)| (d, false)));
    }
    if answered.is_empty() {
      return;
    }
    let (env, resource, context) = (floor.env, floor.resource, floor.context);
    drop(guard);
    // SAFETY: napi calls on this env from its thread (libuv runs this callback there), inside a
    // handle scope and a callback scope opened here and closed in order.
    unsafe {
      let (mut handles, mut object, mut scope) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
      sys::napi_open_handle_scope(env, &mut handles);
      sys::napi_get_reference_value(env, resource, &mut object);
      sys::napi_open_callback_scope(env, object, context, &mut scope);
      for (deferred, ok) in answered {
        let mut value = ptr::null_mut();
        sys::napi_get_boolean(env, ok, &mut value);
        sys::napi_resolve_deferred(env, deferred, value);
      }
      // Closing the outermost callback scope runs the microtasks: the awaiting scans go on.
      sys::napi_close_callback_scope(env, scope);
      sys::napi_close_handle_scope(env, handles);
    }
  });
}

/// As the Rust floor and the package do on TCP: acknowledge at once (TCP_QUICKACK), so that
/// clamd's small replies are not held back by Nagle waiting for a delayed ACK.
fn quick_ack(fd: c_int) {
  let one: c_int = 1;
  // SAFETY: a valid descriptor and a 4-byte option value.
  unsafe {
    libc::setsockopt(
      fd,
      libc::IPPROTO_TCP,
      libc::TCP_QUICKACK,
      (&one as *const c_int).cast(),
      4,
    )
  };
}

extern "C" fn closed(handle: *mut c_void) {
  // SAFETY: allocated with malloc in `open`; libuv is done with it.
  unsafe { libc::free(handle) };
}

/// Ends every session (`zEND`) and stops watching it; what is still waiting never resolves.
#[napi]
pub fn close(env: Env) {
  FLOOR.with(|f| {
    if let Some(floor) = f.borrow_mut().take() {
      for session in floor.sessions {
        // SAFETY: the poll is stopped (libuv drops the descriptor from its epoll set) before the
        // descriptor is closed; the handle is freed once libuv has closed it.
        unsafe {
          libc::send(session.fd, c"zEND".as_ptr().cast(), 5, libc::MSG_NOSIGNAL);
          uv_poll_stop(session.poll);
          uv_close(session.poll, closed);
          libc::close(session.fd);
        }
      }
      // SAFETY: the async context and reference made in `open`, on the same env.
      unsafe {
        sys::napi_async_destroy(env.raw(), floor.context);
        sys::napi_delete_reference(env.raw(), floor.resource);
      }
    }
  });
}
