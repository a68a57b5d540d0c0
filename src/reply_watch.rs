//! The JS thread as the reply watcher of its clients' sessions (`clamd_client::reply_watch`):
//! each TCP or UNIX session's socket is watched by a `uv_poll` on the event loop of the JS
//! environment that made the client, and its replies are read there, so that a verdict wakes the
//! JS thread only, not the runtime's thread first. What the reads finish can be handed to JS at
//! the end of the same loop turn (`after_reads`), with no threadsafe function, which would only
//! signal this very thread.
//!
//! The runtime's threads hand sockets over through a threadsafe function that calls no JS. Every
//! watch is closed when the session stops reading, and all of them when the environment ends,
//! through an async cleanup hook that Node waits for: a worker's loop must have no handle of
//! ours left, not even one closing, when it closes (Node aborts otherwise). After that, nothing
//! more is watched: the sessions hear that nobody reads and end.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr;
use std::sync::{Arc, Mutex};

use clamd_client::reply_watch::{ReplySink, ReplyWatcher};
use napi::sys;

/// The libuv functions used, looked up in the process (Node exports libuv to addons) rather than
/// linked, so that the addon still loads where there is no libuv (Bun, Deno: the runtime reads
/// there). `uv_handle_size` spares us libuv's struct layouts.
struct Uv {
  handle_size: HandleSize,
  poll_init: PollInit,
  poll_start: PollStart,
  poll_stop: HandleFn,
  check_init: CheckInit,
  check_start: CheckStart,
  check_stop: HandleFn,
  close: Close,
  unref: Unref,
  set_data: SetData,
  get_data: GetData,
}
type HandleSize = unsafe extern "C" fn(c_int) -> usize;
type PollInit = unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int;
type PollCb = unsafe extern "C" fn(*mut c_void, c_int, c_int);
type PollStart = unsafe extern "C" fn(*mut c_void, c_int, PollCb) -> c_int;
type HandleFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type CheckInit = unsafe extern "C" fn(*mut c_void, *mut c_void) -> c_int;
type CheckStart = unsafe extern "C" fn(*mut c_void, unsafe extern "C" fn(*mut c_void)) -> c_int;
type Close = unsafe extern "C" fn(*mut c_void, unsafe extern "C" fn(*mut c_void));
type Unref = unsafe extern "C" fn(*mut c_void);
type SetData = unsafe extern "C" fn(*mut c_void, *mut c_void);
type GetData = unsafe extern "C" fn(*const c_void) -> *mut c_void;
/// `UV_CHECK` and `UV_POLL` in libuv's `uv_handle_type`, and `UV_READABLE`.
const UV_CHECK: c_int = 2;
const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;

/// libuv, when the process has it.
fn uv() -> Option<&'static Uv> {
  static UV: std::sync::OnceLock<Option<Uv>> = std::sync::OnceLock::new();
  UV.get_or_init(|| {
    let find = |name: &std::ffi::CStr| {
      // SAFETY: a symbol lookup in the global scope.
      let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
      (!f.is_null()).then_some(f)
    };
    // SAFETY: each is libuv's function of that name, with the signature declared above.
    unsafe {
      Some(Uv {
        handle_size: std::mem::transmute::<*mut c_void, HandleSize>(find(c"uv_handle_size")?),
        poll_init: std::mem::transmute::<*mut c_void, PollInit>(find(c"uv_poll_init")?),
        poll_start: std::mem::transmute::<*mut c_void, PollStart>(find(c"uv_poll_start")?),
        poll_stop: std::mem::transmute::<*mut c_void, HandleFn>(find(c"uv_poll_stop")?),
        check_init: std::mem::transmute::<*mut c_void, CheckInit>(find(c"uv_check_init")?),
        check_start: std::mem::transmute::<*mut c_void, CheckStart>(find(c"uv_check_start")?),
        check_stop: std::mem::transmute::<*mut c_void, HandleFn>(find(c"uv_check_stop")?),
        close: std::mem::transmute::<*mut c_void, Close>(find(c"uv_close")?),
        unref: std::mem::transmute::<*mut c_void, Unref>(find(c"uv_unref")?),
        set_data: std::mem::transmute::<*mut c_void, SetData>(find(c"uv_handle_set_data")?),
        get_data: std::mem::transmute::<*mut c_void, GetData>(find(c"uv_handle_get_data")?),
      })
    }
  })
  .as_ref()
}

/// libuv, once `for_env` has made a watcher (it found it then).
fn uv_loaded() -> &'static Uv {
  uv().expect("a watcher exists only with libuv")
}

type Handover = (OwnedFd, Arc<dyn ReplySink>);

/// One per JS environment. Sockets to watch queue here until the JS thread takes them.
pub struct UvReplyWatcher {
  inner: Mutex<Inner>,
}

struct Inner {
  queue: Vec<Handover>,
  /// `None` once Node has finalized it, or the environment has begun to end: nothing more is
  /// handed over.
  tsfn: Option<Tsfn>,
}

struct Tsfn(sys::napi_threadsafe_function);
// SAFETY: a threadsafe function may be called from any thread; Node finalizes it on the JS thread
// under `Inner`'s lock (see `finalized`), so it is never called once gone.
unsafe impl Send for Tsfn {}

impl ReplyWatcher for UvReplyWatcher {
  fn watch(&self, fd: OwnedFd, sink: Arc<dyn ReplySink>) -> Result<(), Handover> {
    let mut inner = self.inner.lock().unwrap();
    let Some(tsfn) = inner.tsfn.as_ref().map(|t| t.0) else {
      return Err((fd, sink));
    };
    inner.queue.push((fd, sink));
    if inner.queue.len() > 1 {
      return Ok(()); // a call is on its way and takes this one too
    }
    // SAFETY: the function is alive (not finalized: checked under the lock Node's finalizer takes).
    let status = unsafe {
      sys::napi_call_threadsafe_function(tsfn, ptr::null_mut(), sys::ThreadsafeFunctionCallMode::nonblocking)
    };
    if status != sys::Status::napi_ok {
      return Err(inner.queue.pop().expect("pushed above"));
    }
    Ok(())
  }
}

impl UvReplyWatcher {
  /// Nothing more is handed over (the environment is ending); what was and is not taken yet is
  /// told nobody reads.
  fn stop_handovers(&self) {
    let queue = {
      let mut inner = self.inner.lock().unwrap();
      inner.tsfn = None;
      std::mem::take(&mut inner.queue)
    };
    for (_fd, sink) in queue {
      sink.unwatched();
    }
  }
}

/// A socket being watched: the handle's data.
struct Watch {
  fd: OwnedFd,
  sink: Arc<dyn ReplySink>,
}

/// Work for the JS thread once the replies read in this turn of its event loop are in.
pub trait AfterReads {
  /// On the JS thread of `env`, after the loop's poll phase (as `setImmediate` callbacks run):
  /// JS may be called.
  fn after_reads(&self, env: sys::napi_env);
}

thread_local! {
  /// This thread's (environment's) watcher, made with its first client.
  static WATCHER: RefCell<Option<Arc<UvReplyWatcher>>> = const { RefCell::new(None) };
  /// The environment whose watcher this thread runs, and its `uv_check` handle (0 once closed)
  /// that runs `AFTER_READS` at the end of a loop turn's poll phase.
  static ENV: std::cell::Cell<(sys::napi_env, usize)> = const { std::cell::Cell::new((ptr::null_mut(), 0)) };
  /// True while a watch reads on this thread.
  static READING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
  /// What the reads of this loop turn left for JS.
  static AFTER_READS: RefCell<Vec<Arc<dyn AfterReads>>> = const { RefCell::new(Vec::new()) };
  /// The open `uv_poll` handles, closed when the environment ends.
  static HANDLES: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
  /// Handles closed whose close callback has not run yet.
  static CLOSING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
  /// Once the environment ends: its async cleanup hook's handle, removed (Node may go on) when
  /// the last of our handles has closed.
  static ENDING: std::cell::Cell<Option<AsyncCleanupHandle>> = const { std::cell::Cell::new(None) };
}

/// Node's async cleanup hooks (N-API 8), looked up like libuv (see `Uv`).
type AsyncCleanupHandle = *mut c_void;
type AsyncCleanupHook = unsafe extern "C" fn(AsyncCleanupHandle, *mut c_void);
type AddAsyncCleanupHook =
  unsafe extern "C" fn(sys::napi_env, AsyncCleanupHook, *mut c_void, *mut AsyncCleanupHandle) -> sys::napi_status;
type RemoveAsyncCleanupHook = unsafe extern "C" fn(AsyncCleanupHandle) -> sys::napi_status;

fn async_cleanup_hooks() -> Option<(AddAsyncCleanupHook, RemoveAsyncCleanupHook)> {
  // SAFETY: symbol lookups in the global scope; each is Node's function of that name.
  unsafe {
    let add = libc::dlsym(libc::RTLD_DEFAULT, c"napi_add_async_cleanup_hook".as_ptr());
    let remove = libc::dlsym(libc::RTLD_DEFAULT, c"napi_remove_async_cleanup_hook".as_ptr());
    (!add.is_null() && !remove.is_null()).then(|| {
      (
        std::mem::transmute::<*mut c_void, AddAsyncCleanupHook>(add),
        std::mem::transmute::<*mut c_void, RemoveAsyncCleanupHook>(remove),
      )
    })
  }
}

/// The watcher of `env`'s thread, made on first use; `None` without libuv. On the JS thread.
pub fn for_env(env: sys::napi_env) -> napi::Result<Option<Arc<UvReplyWatcher>>> {
  if let Some(watcher) = WATCHER.with(|w| w.borrow().clone()) {
    return Ok(Some(watcher));
  }
  let Some((add_cleanup, _)) = async_cleanup_hooks() else {
    return Ok(None);
  };
  if uv().is_none() {
    return Ok(None);
  }
  // A new environment on a thread whose last one ended (embedders; Node gives each worker a
  // thread of its own).
  ENDING.set(None);
  let watcher = Arc::new(UvReplyWatcher {
    inner: Mutex::new(Inner {
      queue: Vec::new(),
      tsfn: None,
    }),
  });
  let mut tsfn = ptr::null_mut();
  let mut name = ptr::null_mut();
  // The finalizer's reference to the watcher, given back in `finalized`.
  let finalize_data = Arc::into_raw(watcher.clone()) as *mut c_void;
  // SAFETY: napi calls on this env from its thread, with out-pointers to locals; no JS function
  // (call_js_cb does the work), and the context outlives the function (the finalizer holds it).
  unsafe {
    check(sys::napi_create_string_utf8(
      env,
      c"pompelmi:replies".as_ptr(),
      16,
      &mut name,
    ))?;
    check(sys::napi_create_threadsafe_function(
      env,
      ptr::null_mut(),
      ptr::null_mut(),
      name,
      0,
      1,
      finalize_data,
      Some(finalized),
      finalize_data,
      Some(take_handovers),
      &mut tsfn,
    ))?;
    // It never keeps the process alive: a scan in flight does (its own threadsafe function).
    check(sys::napi_unref_threadsafe_function(env, tsfn))?;
    let mut cleanup = ptr::null_mut();
    check(add_cleanup(
      env,
      environment_ends,
      Arc::as_ptr(&watcher) as *mut c_void,
      &mut cleanup,
    ))?;
  }
  watcher.inner.lock().unwrap().tsfn = Some(Tsfn(tsfn));
  WATCHER.with(|w| *w.borrow_mut() = Some(watcher.clone()));
  ENV.set((env, new_check(env)));
  Ok(Some(watcher))
}

/// The `uv_check` handle that runs `AFTER_READS` on `env`'s loop (unref'd: it never keeps the
/// loop alive); 0 if none could be made (work is then never deferred).
fn new_check(env: sys::napi_env) -> usize {
  let mut event_loop = ptr::null_mut();
  // SAFETY: on the JS thread of `env`; a handle of uv_check_t's size, initialised on its loop and
  // freed in `check_closed`.
  unsafe {
    if sys::napi_get_uv_event_loop(env, &mut event_loop) != sys::Status::napi_ok {
      return 0;
    }
    let uv = uv_loaded();
    let handle = libc::malloc((uv.handle_size)(UV_CHECK));
    if handle.is_null() || (uv.check_init)(event_loop.cast(), handle) != 0 {
      libc::free(handle);
      return 0;
    }
    (uv.unref)(handle);
    handle as usize
  }
}

/// Called while a watch reads on the JS thread of `env`: `work` runs at the end of this loop
/// turn's poll phase, once for all the reads of the turn. Anywhere else nothing is kept: false.
pub fn after_reads<T: AfterReads + 'static>(env: sys::napi_env, work: &Arc<T>) -> bool {
  let (this_env, check) = ENV.get();
  if !READING.get() || this_env != env || check == 0 {
    return false;
  }
  let first = AFTER_READS.with(|a| {
    let mut a = a.borrow_mut();
    a.push(work.clone());
    a.len() == 1
  });
  if first {
    // SAFETY: this thread's live check handle; starting a started one is a no-op.
    unsafe { (uv_loaded().check_start)(check as *mut c_void, run_after_reads) };
  }
  true
}

/// libuv, after the poll phase: what the reads left for JS runs.
unsafe extern "C" fn run_after_reads(handle: *mut c_void) {
  // SAFETY: the started check handle of this thread's loop.
  unsafe { (uv_loaded().check_stop)(handle) };
  let env = ENV.get().0;
  for work in AFTER_READS.with(|a| std::mem::take(&mut *a.borrow_mut())) {
    work.after_reads(env);
  }
}

/// libuv is done with the check handle.
unsafe extern "C" fn check_closed(handle: *mut c_void) {
  // SAFETY: the allocation made in `new_check`, given back once.
  unsafe { libc::free(handle) };
  CLOSING.set(CLOSING.get() - 1);
  finish_ending();
}

fn check(status: sys::napi_status) -> napi::Result<()> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(napi::Error::from_reason(format!(
      "pompelmi: cannot set up the reply watcher ({status})"
    )))
  }
}

/// Node finalized the threadsafe function (the environment is ending).
unsafe extern "C" fn finalized(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  // SAFETY: the reference made for this in `for_env`.
  let watcher = unsafe { Arc::from_raw(data as *const UvReplyWatcher) };
  watcher.stop_handovers();
}

/// On the JS thread: starts watching what was handed over.
unsafe extern "C" fn take_handovers(
  env: sys::napi_env,
  _js: sys::napi_value,
  context: *mut c_void,
  _data: *mut c_void,
) {
  // SAFETY: the context is the watcher, kept alive by the finalizer's reference.
  let watcher = unsafe { &*(context as *const UvReplyWatcher) };
  let queue = std::mem::take(&mut watcher.inner.lock().unwrap().queue);
  let mut event_loop = ptr::null_mut();
  let ending = ENDING.get().is_some();
  // SAFETY: on the JS thread of `env` (null while the function is torn down).
  if ending || env.is_null() || unsafe { sys::napi_get_uv_event_loop(env, &mut event_loop) } != sys::Status::napi_ok {
    for (_fd, sink) in queue {
      sink.unwatched();
    }
    return;
  }
  for (fd, sink) in queue {
    // SAFETY: on the loop's thread.
    unsafe { start(event_loop.cast(), Watch { fd, sink }) };
  }
}

/// Starts a `uv_poll` on `watch`'s socket; it owns the watch until closed.
unsafe fn start(event_loop: *mut c_void, watch: Watch) {
  // SAFETY: a handle of uv_poll_t's size, initialised on this thread's loop for a live
  // descriptor (the watch owns it); freed in `closed` once libuv is done with it.
  unsafe {
    let uv = uv_loaded();
    let handle = libc::malloc((uv.handle_size)(UV_POLL));
    if handle.is_null() || (uv.poll_init)(event_loop, handle, watch.fd.as_raw_fd()) != 0 {
      libc::free(handle);
      watch.sink.unwatched();
      return;
    }
    (uv.set_data)(handle, Box::into_raw(Box::new(watch)).cast());
    (uv.unref)(handle);
    HANDLES.with(|h| h.borrow_mut().push(handle as usize));
    if (uv.poll_start)(handle, UV_READABLE, readable) != 0 {
      stop(handle, true);
    }
  }
}

/// libuv: the socket is readable (or failed: the read finds out how).
unsafe extern "C" fn readable(handle: *mut c_void, _status: c_int, _events: c_int) {
  // SAFETY: the data set in `start`, alive until `closed`.
  let watch = unsafe { &*((uv_loaded().get_data)(handle) as *const Watch) };
  READING.set(true);
  let more = watch.sink.readable(watch.fd.as_raw_fd());
  READING.set(false);
  if !more {
    // SAFETY: a started handle of this thread's loop.
    unsafe { stop(handle, false) };
  }
}

/// Stops and closes a handle; `unwatched`: its session is told nobody reads any more.
unsafe fn stop(handle: *mut c_void, unwatched: bool) {
  HANDLES.with(|h| h.borrow_mut().retain(|&x| x != handle as usize));
  CLOSING.set(CLOSING.get() + 1);
  // SAFETY: a live handle of this thread's loop and its data, set in `start`.
  let uv = uv_loaded();
  unsafe {
    if unwatched {
      (*((uv.get_data)(handle) as *const Watch)).sink.unwatched();
    }
    (uv.poll_stop)(handle);
    (uv.close)(handle, closed);
  }
}

/// libuv is done with the handle: the watch goes (closing its descriptor), then the memory.
unsafe extern "C" fn closed(handle: *mut c_void) {
  // SAFETY: the box and allocation made in `start`, given back once.
  unsafe {
    drop(Box::from_raw((uv_loaded().get_data)(handle) as *mut Watch));
    libc::free(handle);
  }
  CLOSING.set(CLOSING.get() - 1);
  finish_ending();
}

/// Once the environment is ending and the last of our handles has closed, Node may go on.
fn finish_ending() {
  if CLOSING.get() == 0 {
    if let (Some(hook), Some((_, remove))) = (ENDING.get(), async_cleanup_hooks()) {
      ENDING.set(Some(ptr::null_mut())); // ending still, and removed once
      if !hook.is_null() {
        // SAFETY: the handle Node gave `environment_ends`, removed once.
        unsafe { remove(hook) };
      }
    }
  }
}

/// The environment ends: every watch is closed (its session hears that nobody reads), so that
/// its loop closes with no handle of ours open.
unsafe extern "C" fn environment_ends(hook: AsyncCleanupHandle, watcher: *mut c_void) {
  ENDING.set(Some(hook));
  // SAFETY: the watcher, alive (this thread's WATCHER holds it until below).
  let watcher = unsafe { &*(watcher as *const UvReplyWatcher) };
  watcher.stop_handovers();
  let handles = HANDLES.with(|h| std::mem::take(&mut *h.borrow_mut()));
  for handle in handles {
    // SAFETY: handles of this thread's loop, still open (removed from the list when stopped).
    unsafe { stop(handle as *mut c_void, true) };
  }
  // Nothing is read any more, and what was left for JS will not be called for.
  AFTER_READS.with(|a| a.borrow_mut().clear());
  let (_, check) = ENV.replace((ptr::null_mut(), 0));
  if check != 0 {
    CLOSING.set(CLOSING.get() + 1);
    let uv = uv_loaded();
    // SAFETY: this thread's check handle, open until now.
    unsafe {
      (uv.check_stop)(check as *mut c_void);
      (uv.close)(check as *mut c_void, check_closed);
    }
  }
  WATCHER.with(|w| w.borrow_mut().take());
  finish_ending();
}
