//! The `#[napi]` surface, and nothing else: conversions between JS values and the crate's types.
//! Native work never rejects: it ends with an `Outcome` (or, for a verdict-only scan, a verdict
//! code), and `lib/core/errors.js` turns an outcome's `error` into a Node-style `Error`, because
//! napi-rs cannot reject with custom fields. File and buffer scans hand their results to the
//! client's `onComplete` in batches (`Completer`); streams, commands and local scans resolve
//! promises.

#![deny(clippy::all)]

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use tokio::sync::{mpsc, oneshot};

use clamd_client::client::{CallOptions, Cancel, Client, Done, Payload};
use clamd_client::error::ClamError;
use clamd_client::source::Source;
use clamd_client::{file, local};

mod convert;
#[cfg(unix)]
mod reply_watch;

use convert::{call_failed, failed, ms, reply_outcome};

/// Where a clamd listens (or `clamscan` for local mode), as it crosses the boundary both ways.
#[napi(object)]
#[derive(Clone)]
pub struct EndpointObject {
  pub kind: EndpointKind,
  pub host: Option<String>,
  pub port: Option<u32>,
  pub path: Option<String>,
  /// A TLS endpoint's settings (into Rust only; results name the endpoint without them).
  pub tls: Option<TlsObject>,
  /// A tcp or tls endpoint whose host is a name to discover (into Rust only): `address`, each of
  /// its A and AAAA addresses becomes an endpoint; `srv`, each target of its `_clamd._tcp` SRV
  /// records (with the record's port; `port` is then absent).
  #[napi(ts_type = "'address' | 'srv'")]
  pub discover: Option<String>,
}

/// TLS settings as Node's `tls` takes them, PEM text (the shim joins Buffers and lists into one).
#[napi(object)]
#[derive(Clone)]
pub struct TlsObject {
  pub ca: Option<String>,
  pub cert: Option<String>,
  pub key: Option<String>,
  pub servername: Option<String>,
  pub reject_unauthorized: Option<bool>,
}

#[napi(string_enum = "lowercase")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
  Tcp,
  Tls,
  Unix,
  Clamscan,
}

/// A verdict's name: `clean`, `malicious`, or `error` (a ScanError).
#[napi(string_enum = "lowercase")]
pub enum VerdictName {
  Clean,
  Malicious,
  Error,
}

/// What failed, for the shim's one error shaping.
#[napi(string_enum = "lowercase")]
pub enum ErrorKind {
  /// A socket or file system call (`syscall`, `address`/`port` or `path` set).
  Os,
  /// A TLS handshake or certificate failure (Node's TLS codes; `address`/`port` set).
  Tls,
  Dns,
  Timeout,
  Hangup,
  Spawn,
  Exit,
  Source,
  Aborted,
  Closed,
  Protocol,
  Changed,
  Internal,
}

/// Connection options, already normalised by the shim (routing, defaults, validation).
#[napi(object)]
pub struct ClientOptions {
  /// One or more endpoints (`kind` tcp or unix).
  pub endpoints: Vec<EndpointObject>,
  /// Idle timeout in milliseconds; 0 disables it.
  pub timeout: f64,
  /// Connect deadline in milliseconds; 0 disables it.
  pub connect_timeout: f64,
  /// The longest wait for a request slot, in milliseconds; 0 disables it.
  pub queue_timeout: f64,
  pub retries: u32,
  pub retry_delay: f64,
  pub max_connections: u32,
  pub fdpass: bool,
  /// The size guard in bytes (`maxFileSize`); 0 disables it.
  pub max_file_size: f64,
  /// Sessions older than this many milliseconds close after their in-flight requests; 0: kept.
  pub max_connection_age: f64,
  /// Nameservers (`ip:port`) for discovered names; empty: the system resolver.
  pub resolver: Vec<String>,
  /// Discovered names are resolved again every this many milliseconds.
  pub discover_interval: f64,
}

/// Per-call options.
#[napi(object)]
pub struct CallOpts {
  /// Reply timeout for this call in milliseconds (0 disables it); the client's when absent.
  pub timeout: Option<f64>,
  /// A directory walk's file: opened as `root/rel` without following any symlink below `root`.
  pub root: Option<String>,
  pub rel: Option<String>,
  /// `dev:ino` the file must still have (what the walk listed).
  pub file_id: Option<String>,
}

/// How a path named by these options is opened (see `file::OpenRule`).
fn open_rule(root: Option<String>, rel: Option<String>, file_id: Option<&str>) -> file::OpenRule {
  file::OpenRule {
    beneath: root.zip(rel).map(|(root, rel)| file::Beneath { root, rel }),
    expect: file_id.and_then(file::FileId::parse),
  }
}

#[napi(object)]
pub struct NativeError {
  pub message: String,
  pub kind: ErrorKind,
  pub code: String,
  pub syscall: Option<String>,
  pub address: Option<String>,
  pub port: Option<u32>,
  pub path: Option<String>,
  pub hostname: Option<String>,
  pub spawnargs: Option<Vec<String>>,
}

#[napi(object)]
pub struct Outcome {
  /// Absent when `error` is set.
  pub verdict: Option<VerdictName>,
  pub viruses: Vec<String>,
  /// clamd's reply (NUL and session id stripped), clamscan's output, or a command's text.
  pub reply: String,
  pub reason: Option<String>,
  /// For `reason: 'limits-exceeded'`: the clamd limit (`MaxFileSize`, `MaxScanSize`, …).
  pub limit: Option<String>,
  /// Absent when no endpoint was asked.
  pub endpoint: Option<EndpointObject>,
  pub bytes: f64,
  pub duration_ms: f64,
  /// `dev:ino` of the regular file that was scanned (quarantine moves only that file).
  pub file_id: Option<String>,
  /// Attempts a scan made (1: the first answered); absent for commands and local scans.
  pub attempts: Option<u32>,
  pub error: Option<NativeError>,
}

/// A client's scan counters; `reasons` in the order of `SCAN_ERROR_REASONS`, `latencyCounts` per
/// bucket of `LATENCY_BOUNDS_MS` (not cumulative; the last one past every bound).
#[napi(object)]
pub struct ScanStats {
  pub clean: f64,
  pub malicious: f64,
  pub scan_error: f64,
  pub failed: f64,
  pub reasons: Vec<f64>,
  pub bytes: f64,
  pub latency_counts: Vec<f64>,
  pub latency_sum_ms: f64,
}

/// The latency histogram's bucket bounds, in milliseconds.
#[napi]
pub fn latency_bounds_ms() -> Vec<f64> {
  clamd_client::metrics::LATENCY_BOUNDS_MS.to_vec()
}

/// The ScanError reasons, in the order of `ScanStats.reasons`.
#[napi]
pub fn scan_error_reasons() -> Vec<String> {
  clamd_client::metrics::REASONS.iter().map(|r| r.to_string()).collect()
}

/// An endpoint's state at one moment (`metrics()`).
#[napi(object)]
pub struct EndpointState {
  pub endpoint: EndpointObject,
  pub down: bool,
  pub draining: bool,
  pub sessions: u32,
  pub in_flight: u32,
  pub queued: u32,
}

/// What happened to an endpoint (`down`, `up`, `failover`, `retry`), for diagnostics channels and
/// metrics; endpoints as objects, errors as native errors.
#[napi(object)]
pub struct ClientEvent {
  #[napi(js_name = "type")]
  pub kind: String,
  pub endpoint: Option<EndpointObject>,
  pub from: Option<EndpointObject>,
  pub to: Option<EndpointObject>,
  pub attempt: Option<u32>,
  pub error: Option<NativeError>,
  /// `discovery`: the name, and its addresses that joined and left.
  pub name: Option<String>,
  pub added: Option<Vec<EndpointObject>>,
  pub removed: Option<Vec<EndpointObject>>,
}

type ChunkSender = mpsc::Sender<std::result::Result<Vec<u8>, ClamError>>;

/// One scan in progress: `outcome()` resolves its result, `abort()` cancels it, and for streams
/// `write()`/`end()`/`fail()` feed it (a write resolves once the chunk is taken, which is the
/// backpressure, and resolves `false` once the scan has ended early).
#[napi]
pub struct ScanCall {
  cancel: Arc<Cancel>,
  done: Mutex<Option<oneshot::Receiver<Outcome>>>,
  chunks: Mutex<Option<ChunkSender>>,
}

impl ScanCall {
  fn spawn<F>(work: impl FnOnce(Arc<Cancel>) -> F, chunks: Option<ChunkSender>) -> ScanCall
  where
    F: std::future::Future<Output = Outcome> + Send + 'static,
  {
    let cancel = Arc::new(Cancel::default());
    let (tx, rx) = oneshot::channel();
    let fut = work(cancel.clone());
    napi::bindgen_prelude::spawn(async move {
      let _ = tx.send(fut.await);
    });
    ScanCall {
      cancel,
      done: Mutex::new(Some(rx)),
      chunks: Mutex::new(chunks),
    }
  }
}

#[napi]
impl ScanCall {
  #[napi]
  pub async fn outcome(&self) -> Outcome {
    let done = self.done.lock().unwrap().take();
    match done {
      Some(rx) => rx
        .await
        .unwrap_or_else(|_| failed(ClamError::Internal("scan task ended".into()), None)),
      None => failed(ClamError::Internal("outcome() called twice".into()), None),
    }
  }

  /// Cancels the scan. A stream's chunk channel stays open: closing it would look like the
  /// end of the stream and complete the upload instead of cutting it off.
  #[napi]
  pub fn abort(&self) {
    self.cancel.cancel();
  }

  /// Queues a copy of the chunk (taken at once, on the JS thread: the chunk may be detached
  /// or reused as soon as this returns).
  #[napi(ts_return_type = "Promise<boolean>")]
  pub fn write<'env>(&self, env: &'env Env, chunk: &[u8]) -> Result<PromiseRaw<'env, bool>> {
    let tx = self.chunks.lock().unwrap().clone();
    let chunk = chunk.to_vec();
    env.spawn_future(async move {
      Ok(match tx {
        Some(tx) => tx.send(Ok(chunk)).await.is_ok(),
        None => false,
      })
    })
  }

  /// The stream ended: the upload is complete.
  #[napi]
  pub fn end(&self) {
    self.chunks.lock().unwrap().take();
  }

  /// The stream failed; the shim rejects with the stream's own error. The failure is queued
  /// like a chunk (waiting for room if need be): were it lost, the closed channel would read as
  /// the end of the stream and a truncated upload could come back Clean.
  #[napi]
  pub async fn fail(&self, message: String) {
    let tx = self.chunks.lock().unwrap().take();
    if let Some(tx) = tx {
      let _ = tx.send(Err(ClamError::SourceFailed(message))).await;
    }
  }
}

/// A call's abort switch, made only for a call that has an `AbortSignal` (the shim calls
/// `abort()` from the signal's listener).
#[napi]
pub struct AbortHandle {
  cancel: Arc<Cancel>,
}

#[napi]
impl AbortHandle {
  #[napi(constructor)]
  #[allow(clippy::new_without_default)]
  pub fn new() -> Self {
    AbortHandle {
      cancel: Arc::new(Cancel::default()),
    }
  }

  #[napi]
  pub fn abort(&self) {
    self.cancel.cancel();
  }
}

fn cancel_of(abort: Option<ClassInstance<AbortHandle>>) -> Arc<Cancel> {
  abort.map_or_else(|| Arc::new(Cancel::default()), |a| a.cancel.clone())
}

/// What a one-crossing scan resolves: with `verdictOnly`, a verdict's code (0 Clean,
/// 1 Malicious, 2 ScanError) when there is one; otherwise, and on any failure, the `Outcome`.
pub type ScanResult = Either<u32, Outcome>;

/// What finished scans are handed to JS as: `(ids, results)`.
type Batch = FnArgs<(Vec<u32>, Vec<ScanResult>)>;
/// The JS function finished scans are handed to, in batches.
type CompleteFn = ThreadsafeFunction<(), (), Batch, Status, false, true>;

/// Hands finished scans back to JS through one threadsafe function per client, in batches: a
/// result queued while an earlier one still waits for the JS thread rides along with it, so a
/// busy client wakes the JS thread once for many scans (a promise per call would create and
/// tear down a threadsafe function per call). The function is unref'd while no scan is pending,
/// so an idle client never keeps the process alive, and ref'd while one is.
///
/// Results read on the JS thread itself (`reply_watch`) skip the threadsafe function, which would
/// only signal this same thread: they are handed to `onComplete` at the end of the loop turn that
/// read them (`reply_watch::after_reads`), through `direct`.
struct Completer {
  queue: Mutex<Vec<(u32, ScanResult)>>,
  deliver: CompleteFn,
  /// Scans started and not yet delivered; only touched on the JS thread.
  pending: std::sync::atomic::AtomicUsize,
  /// `onComplete` itself, while the client lives; only touched on the JS thread of `direct.env`.
  direct: Mutex<Option<DirectCall>>,
}

/// A reference to `onComplete` and the async context it is called in (as Node calls an
/// addon's callbacks: async hooks see it, and microtasks run after it). Copied to be called;
/// deleted once, by the client.
#[derive(Clone, Copy)]
struct DirectCall {
  env: napi::sys::napi_env,
  func: napi::sys::napi_ref,
  context: napi::sys::napi_async_context,
}
// SAFETY: made, used and deleted on the JS thread of `env` only (see `Completer::after_reads` and
// `NativeClient`'s `Drop`); the mutex around it is what crosses threads.
unsafe impl Send for DirectCall {}

impl DirectCall {
  fn new(env: &Env, on_complete: &Function<Batch, ()>) -> Result<Self> {
    use napi::sys;
    let raw = env.raw();
    let mut func = std::ptr::null_mut();
    let mut context = std::ptr::null_mut();
    let name = env.create_string("pompelmi:results")?;
    // SAFETY: napi calls on this env from its thread, with out-pointers to locals.
    unsafe {
      check_status!(sys::napi_create_reference(raw, on_complete.raw(), 1, &mut func))?;
      let status = sys::napi_async_init(raw, std::ptr::null_mut(), name.raw(), &mut context);
      if status != sys::Status::napi_ok {
        sys::napi_delete_reference(raw, func);
        check_status!(status)?;
      }
    }
    Ok(DirectCall {
      env: raw,
      func,
      context,
    })
  }

  /// On the JS thread, outside any JS frame (a libuv callback): calls `onComplete` with what
  /// `take` gives; what it throws is uncaught, as it would be from the threadsafe function.
  /// False, with nothing taken, when JS cannot be called.
  fn call(&self, take: impl FnOnce() -> (Vec<u32>, Vec<ScanResult>)) -> bool {
    use napi::sys::{self, Status};
    let env = self.env;
    // SAFETY: on the JS thread of `env`; every value lives in the handle scope opened here.
    unsafe {
      let mut scope = std::ptr::null_mut();
      if sys::napi_open_handle_scope(env, &mut scope) != Status::napi_ok {
        return false;
      }
      let mut func = std::ptr::null_mut();
      let ready = sys::napi_get_reference_value(env, self.func, &mut func) == Status::napi_ok && !func.is_null();
      if ready {
        let (ids, mut results) = take();
        // One result, the usual batch when each reply wakes the loop, goes as `(id, result)`.
        // Two arrays for it, and the global as receiver (below), took 4 % of the client's CPU
        // per scan against clamd (interleaved builds, 2026-12-07).
        let args = match (ids.as_slice(), results.len()) {
          ([], _) => None,
          (&[id], 1) => {
            let result = results.pop().expect("one result");
            u32::to_napi_value(env, id)
              .and_then(|id| Ok((id, ScanResult::to_napi_value(env, result)?)))
              .ok()
          }
          _ => Vec::to_napi_value(env, ids)
            .and_then(|ids| Ok((ids, Vec::to_napi_value(env, results)?)))
            .ok(),
        };
        if let Some((ids, results)) = args {
          let mut result = std::ptr::null_mut();
          // The receiver is the function itself (`onComplete` ignores `this`): napi needs an
          // object, and the global would cost a lookup per call.
          if sys::napi_make_callback(env, self.context, func, func, 2, [ids, results].as_ptr(), &mut result)
            == Status::napi_pending_exception
          {
            let mut error = std::ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut error);
            sys::napi_fatal_exception(env, error);
          }
        }
      }
      sys::napi_close_handle_scope(env, scope);
      ready
    }
  }

  /// On the JS thread: the reference and the context go.
  fn delete(self) {
    // SAFETY: on the JS thread of `env`, each deleted once.
    unsafe {
      napi::sys::napi_delete_reference(self.env, self.func);
      napi::sys::napi_async_destroy(self.env, self.context);
    }
  }
}

impl Completer {
  fn complete(self: &Arc<Self>, id: u32, result: ScanResult) {
    let first = {
      let mut queue = self.queue.lock().unwrap();
      queue.push((id, result));
      queue.len() == 1
    };
    if first {
      #[cfg(unix)]
      if let Some(env) = self.direct.lock().unwrap().as_ref().map(|d| d.env) {
        if reply_watch::after_reads(env, self) {
          return;
        }
      }
      self.deliver.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }
  }

  /// On the JS thread: a scan starts.
  fn started(&self, env: &Env) {
    use std::sync::atomic::Ordering;
    if self.pending.fetch_add(1, Ordering::Relaxed) == 0 {
      // SAFETY: on the JS thread that owns the function, which is alive (we hold it).
      unsafe { napi::sys::napi_ref_threadsafe_function(env.raw(), self.deliver.raw()) };
    }
  }

  /// On the JS thread: takes the queued results.
  fn take(&self, env: napi::sys::napi_env) -> (Vec<u32>, Vec<ScanResult>) {
    use std::sync::atomic::Ordering;
    let batch = std::mem::take(&mut *self.queue.lock().unwrap());
    if !batch.is_empty() && self.pending.fetch_sub(batch.len(), Ordering::Relaxed) == batch.len() {
      // SAFETY: as in `started`.
      unsafe { napi::sys::napi_unref_threadsafe_function(env, self.deliver.raw()) };
    }
    batch.into_iter().unzip()
  }
}

#[cfg(unix)]
impl reply_watch::AfterReads for Completer {
  fn after_reads(&self, env: napi::sys::napi_env) {
    let direct = *self.direct.lock().unwrap();
    // Without `onComplete` (the client was collected meanwhile), or where JS cannot be called,
    // the threadsafe function delivers, as for results from any other thread.
    if !direct.is_some_and(|d| d.call(|| self.take(env))) {
      self.deliver.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }
  }
}

/// The JS thread reads its clients' replies (see `reply_watch`) on Node, whose libuv can watch
/// sockets; elsewhere (Bun and Deno load Node addons without libuv) the runtime reads them.
fn reply_watcher(env: &Env) -> Result<Option<Arc<dyn clamd_client::reply_watch::ReplyWatcher>>> {
  #[cfg(unix)]
  {
    let versions: Object = env
      .get_global()?
      .get_named_property::<Object>("process")?
      .get_named_property("versions")?;
    if !versions.has_named_property("bun")? && !versions.has_named_property("deno")? {
      if let Some(watcher) = reply_watch::for_env(env.raw())? {
        return Ok(Some(watcher));
      }
    }
  }
  let _ = env;
  Ok(None)
}

/// A clamd client for one set of connection options: pooled IDSESSION connections to one or
/// more endpoints.
#[napi]
pub struct NativeClient {
  client: Arc<Client>,
  completer: Arc<Completer>,
}

#[napi]
impl NativeClient {
  /// `onComplete(ids, results)` receives finished file and buffer scans, in batches; a batch of
  /// one read on the JS thread comes as `(id, result)`.
  #[napi(constructor)]
  pub fn new(
    env: Env,
    options: ClientOptions,
    #[napi(ts_arg_type = "(ids: number | number[], results: number | Outcome | Array<number | Outcome>) => void")]
    on_complete: Function<Batch, ()>,
    #[napi(ts_arg_type = "(event: ClientEvent) => void")] on_event: Option<Function<ClientEvent, ()>>,
  ) -> Result<Self> {
    let config = convert::client_config(options).map_err(|msg| Error::new(Status::InvalidArg, msg))?;
    // The one observer of the client's endpoints: events go to JS without keeping it alive.
    let observer: Option<clamd_client::observe::Observer> = match on_event {
      Some(f) => {
        let tsfn = f
          .build_threadsafe_function::<ClientEvent>()
          .callee_handled::<false>()
          .weak::<true>()
          .build()?;
        Some(Arc::new(move |event| {
          tsfn.call(convert::client_event(event), ThreadsafeFunctionCallMode::NonBlocking);
        }))
      }
      None => None,
    };
    let reply_watcher = reply_watcher(&env)?;
    // Results read on the JS thread go to `onComplete` directly (see `Completer`).
    let direct = match reply_watcher {
      Some(_) => Some(DirectCall::new(&env, &on_complete)?),
      None => None,
    };
    let completer = Arc::new_cyclic(|this: &std::sync::Weak<Completer>| {
      let this = this.clone();
      let deliver = on_complete
        .build_threadsafe_function::<()>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(move |ctx| {
          Ok(match this.upgrade() {
            Some(completer) => FnArgs::from(completer.take(ctx.env.raw())),
            None => FnArgs::from((vec![], vec![])),
          })
        });
      Completer {
        queue: Mutex::new(Vec::new()),
        deliver: deliver.expect("threadsafe function"),
        pending: Default::default(),
        direct: Mutex::new(direct),
      }
    });
    Ok(NativeClient {
      client: Arc::new(Client::with_hooks(config, observer, reply_watcher)),
      completer,
    })
  }

  /// Runs one scan; its result goes to `onComplete` under `id`. A buffer scan starts right here
  /// when nothing can make it wait (`Client::scan_direct`); any other runs as a task.
  fn run(&self, env: &Env, id: u32, payload: Payload, timeout: Option<f64>, cancel: Arc<Cancel>, verdict_only: bool) {
    let completer = self.completer.clone();
    let call = CallOptions {
      timeout: timeout.map(ms),
      cancel,
    };
    self.completer.started(env);
    let done: Done = Box::new(move |result| {
      let result = match result {
        Ok(o) if verdict_only => Either::A(convert::verdict_code(&o.reply)),
        other => Either::B(convert::scan_outcome(other)),
      };
      completer.complete(id, result);
    });
    let (payload, call, done) = match payload {
      Payload::Buffer(bytes) => {
        let client = &self.client;
        match napi::bindgen_prelude::within_runtime_if_available(|| client.scan_direct(bytes, call, done)) {
          None => return,
          Some((bytes, call, done)) => (Payload::Buffer(bytes), call, done),
        }
      }
      other => (other, call, done),
    };
    let client = self.client.clone();
    napi::bindgen_prelude::spawn(async move { done(client.scan(payload, &call).await) });
  }

  /// Scans a copy of a Buffer. Copied, not borrowed: JS can detach, transfer or free the
  /// memory behind a Buffer while the scan runs, and the scan must never read it then.
  #[napi]
  pub fn scan_buffer(
    &self,
    env: &Env,
    id: u32,
    buffer: &[u8],
    opts: Option<CallOpts>,
    abort: Option<ClassInstance<AbortHandle>>,
    verdict_only: bool,
  ) {
    let payload = Payload::Buffer(Arc::new(buffer.to_vec()));
    let timeout = opts.and_then(|o| o.timeout);
    self.run(env, id, payload, timeout, cancel_of(abort), verdict_only)
  }

  /// Scans a file: by descriptor (FILDES) on UNIX-socket endpoints, by INSTREAM otherwise.
  #[napi]
  pub fn scan_file(
    &self,
    env: &Env,
    id: u32,
    path: String,
    opts: Option<CallOpts>,
    abort: Option<ClassInstance<AbortHandle>>,
    verdict_only: bool,
  ) {
    let (rule, timeout) = match opts {
      Some(o) => (open_rule(o.root, o.rel, o.file_id.as_deref()), o.timeout),
      None => (file::OpenRule::default(), None),
    };
    self.run(
      env,
      id,
      Payload::File { path, rule },
      timeout,
      cancel_of(abort),
      verdict_only,
    )
  }

  /// Starts an INSTREAM upload fed chunk by chunk through the returned call's `write()`.
  #[napi]
  pub fn scan_stream(&self, opts: Option<CallOpts>) -> ScanCall {
    let (tx, rx) = mpsc::channel(1);
    let client = self.client.clone();
    let timeout = opts.and_then(|o| o.timeout).map(ms);
    ScanCall::spawn(
      move |cancel| async move {
        let call = CallOptions { timeout, cancel };
        convert::scan_outcome(client.scan(Payload::Stream(Source::channel(rx)), &call).await)
      },
      Some(tx),
    )
  }

  /// Sends PING, VERSION or STATS; the reply text is in `reply`.
  #[napi]
  pub async fn command(&self, name: String) -> Outcome {
    let started = std::time::Instant::now();
    match self.client.command(&name).await {
      Ok((text, endpoint)) => Outcome {
        verdict: None,
        viruses: vec![],
        reply: text,
        reason: None,
        limit: None,
        endpoint: Some(convert::endpoint_object(&endpoint)),
        bytes: 0.0,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        file_id: None,
        attempts: None,
        error: None,
      },
      Err(err) => call_failed(err),
    }
  }

  /// Sends PING, VERSION or STATS to the endpoint named `endpoint` (`tcp://host:port`, ...)
  /// itself, with no failover: per-endpoint metrics.
  #[napi]
  pub async fn command_to(&self, endpoint: String, name: String) -> Outcome {
    match self.client.command_to(&endpoint, &name).await {
      Ok(text) => Outcome {
        reply: text,
        ..reply_outcome(
          clamd_client::protocol::ScanReply::client_error(clamd_client::protocol::ErrorReason::ClamdError),
          None,
          0,
          std::time::Duration::ZERO,
          None,
        )
      },
      Err(err) => call_failed(err),
    }
  }

  /// The client's scan counters (verdicts, reasons, failures, bytes, latency histogram).
  #[napi]
  pub fn scan_stats(&self) -> ScanStats {
    let s = self.client.metrics.snapshot();
    ScanStats {
      clean: s.clean as f64,
      malicious: s.malicious as f64,
      scan_error: s.scan_error as f64,
      failed: s.failed as f64,
      reasons: s.reasons.iter().map(|&n| n as f64).collect(),
      bytes: s.bytes as f64,
      latency_counts: s.buckets.iter().map(|&n| n as f64).collect(),
      latency_sum_ms: s.latency_sum_ms,
    }
  }

  /// Each endpoint's state now: the live ones, then those draining.
  #[napi]
  pub fn endpoint_states(&self) -> Vec<EndpointState> {
    self
      .client
      .pool_states()
      .into_iter()
      .map(|p| EndpointState {
        endpoint: convert::endpoint_object(&p.endpoint),
        down: p.down,
        draining: p.draining,
        sessions: p.sessions as u32,
        in_flight: p.in_flight as u32,
        queued: p.queued as u32,
      })
      .collect()
  }

  /// Closes every connection; calls in flight and queued fail. Resolves once all are closed.
  #[napi]
  pub async fn close(&self) {
    self.client.close().await;
  }
}

/// Collected, on the JS thread: `onComplete`'s reference goes (scans still in flight are
/// delivered through the threadsafe function).
impl Drop for NativeClient {
  fn drop(&mut self) {
    if let Some(direct) = self.completer.direct.lock().unwrap().take() {
      direct.delete();
    }
  }
}

/// What local mode scans: a path (opened here, like clamd mode), or a descriptor the shim
/// wrote an anonymous temp file to.
#[napi(object)]
pub struct LocalTarget {
  pub path: Option<String>,
  pub fd: Option<i32>,
  /// As in `CallOpts`: a directory walk's file.
  pub root: Option<String>,
  pub rel: Option<String>,
  pub file_id: Option<String>,
  pub database: Option<String>,
  /// Kill clamscan after this many milliseconds; 0 disables it.
  pub timeout: f64,
  /// The size guard in bytes (`maxFileSize`); 0 disables it.
  pub max_file_size: f64,
}

/// Local mode: runs `clamscan` on a file; resolves its `Outcome`.
#[napi(ts_return_type = "Promise<Outcome>")]
pub fn local_scan<'env>(
  env: &'env Env,
  target: LocalTarget,
  abort: Option<ClassInstance<AbortHandle>>,
) -> Result<PromiseRaw<'env, Outcome>> {
  let cancel = cancel_of(abort);
  env.spawn_future(async move {
    let job = local::Job {
      database: target.database,
      timeout: ms(target.timeout),
      max_file_size: (target.max_file_size > 0.0).then_some(target.max_file_size as u64),
    };
    let what = match (target.fd, target.path) {
      (Some(fd), _) => local::What::Fd(fd),
      (None, Some(path)) => local::What::Path {
        path,
        rule: open_rule(target.root, target.rel, target.file_id.as_deref()),
      },
      (None, None) => return Ok(failed(ClamError::Internal("localScan needs a path or fd".into()), None)),
    };
    Ok(match local::scan(what, job, cancel).await {
      Ok(o) => reply_outcome(
        o.reply,
        o.endpoint.then(convert::clamscan),
        o.bytes,
        o.duration,
        o.file_id,
      ),
      Err(err) => failed(err, Some(convert::clamscan())),
    })
  })
}

/// Deletes `root/rel` when it is still the file `fileId` (`dev:ino`) and no directory below
/// `root` on its path is a symlink (the CLI's `--delete`).
#[napi]
pub fn remove_scanned(root: String, rel: String, file_id: String) -> Outcome {
  let Some(id) = file::FileId::parse(&file_id) else {
    return failed(ClamError::Internal(format!("bad file id {file_id}")), None);
  };
  match file::remove_scanned(&root, &rel, id) {
    Ok(()) => reply_outcome_text(String::new()),
    Err(err) => failed(err, None),
  }
}

/// Moves `root/rel` into `destDir` as `<base>.quarantined` when it is still the file
/// `fileId` (`dev:ino`) and no directory on either path is a symlink. Resolves the new path.
#[napi]
pub fn quarantine_move(root: String, rel: String, dest_dir: String, base: String, file_id: String) -> Outcome {
  let Some(id) = file::FileId::parse(&file_id) else {
    return failed(ClamError::Internal(format!("bad file id {file_id}")), None);
  };
  match file::quarantine_move(&root, &rel, &dest_dir, &base, id) {
    Ok(path) => reply_outcome_text(path),
    Err(err) => failed(err, None),
  }
}

/// The outcome of a file operation that succeeded: its text in `reply`.
fn reply_outcome_text(reply: String) -> Outcome {
  Outcome {
    verdict: None,
    viruses: vec![],
    reply,
    reason: None,
    limit: None,
    endpoint: None,
    bytes: 0.0,
    duration_ms: 0.0,
    file_id: None,
    attempts: None,
    error: None,
  }
}

/// The runtime: one worker thread. A scan is a few microseconds of work between socket events;
/// with more workers, each request hops between threads (measured: `npm run bench`).
#[napi_derive::module_init]
fn init() {
  let rt = tokio::runtime::Builder::new_multi_thread()
    .worker_threads(1)
    .enable_all()
    .build()
    .expect("tokio runtime");
  napi::bindgen_prelude::create_custom_tokio_runtime(rt);
}

/// mimalloc: every scan allocates on the JS thread and frees on the runtime's (and back), which
/// glibc's per-thread arenas make costly (measured with `perf`: malloc/free/consolidate were 8 %
/// of the client's CPU on small scans).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
