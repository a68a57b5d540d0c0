//! The `#[napi]` surface, and nothing else: conversions between JS values and the crate's types.
//! Every native call resolves (never rejects) with an `Outcome`; `index.js` turns its `error`
//! into a Node-style `Error`, because napi-rs async functions cannot reject with custom fields.

#![deny(clippy::all)]

pub mod client;
pub mod error;
pub mod local;
pub mod protocol;
pub mod source;
pub mod transport;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use tokio::sync::{mpsc, oneshot};

use client::{Client, ClientConfig, Payload, ScanOutcome};
use error::ClamError;
use protocol::{ScanReply, Verdict};
use source::Source;
use transport::Endpoint;

/// Connection options, already normalised by `index.js` (routing, defaults, validation).
#[napi(object)]
pub struct ClientOptions {
  /// `tcp://host:port` or `unix:/path`.
  pub endpoint: String,
  /// Idle timeout in milliseconds; 0 disables it.
  pub timeout: f64,
  pub retries: u32,
  pub retry_delay: f64,
}

#[napi(object)]
pub struct NativeError {
  pub message: String,
  pub code: Option<String>,
  pub syscall: Option<String>,
  pub address: Option<String>,
  pub port: Option<u32>,
  pub path: Option<String>,
  pub hostname: Option<String>,
  pub spawnargs: Option<Vec<String>>,
}

#[napi(object)]
pub struct Outcome {
  /// `clean`, `malicious` or `error` (a ScanError); absent when `error` is set.
  pub verdict: Option<String>,
  pub viruses: Vec<String>,
  /// clamd's reply (NUL stripped), clamscan's output, or a command's text.
  pub reply: String,
  pub reason: Option<String>,
  pub endpoint: String,
  pub bytes: f64,
  pub duration_ms: f64,
  pub error: Option<NativeError>,
}

fn ms(d: f64) -> Option<Duration> {
  (d > 0.0).then(|| Duration::from_millis(d as u64))
}

fn failed(err: ClamError, endpoint: String) -> Outcome {
  let mut native = NativeError {
    message: err.to_string(),
    code: err.code().map(str::to_string),
    syscall: None,
    address: None,
    port: None,
    path: None,
    hostname: None,
    spawnargs: None,
  };
  match err {
    ClamError::Os { syscall, address, port, path, .. } => {
      native.syscall = Some(syscall);
      native.address = address;
      native.port = port.map(u32::from);
      native.path = path;
    }
    ClamError::NotFound { host } => {
      native.syscall = Some("getaddrinfo".into());
      native.hostname = Some(host);
    }
    ClamError::Spawn { command, args, .. } => {
      native.syscall = Some(format!("spawn {command}"));
      native.path = Some(command);
      native.spawnargs = Some(args);
    }
    _ => {}
  }
  Outcome {
    verdict: None,
    viruses: vec![],
    reply: String::new(),
    reason: None,
    endpoint,
    bytes: 0.0,
    duration_ms: 0.0,
    error: Some(native),
  }
}

fn reply_outcome(reply: ScanReply, endpoint: String, bytes: u64, duration: Duration) -> Outcome {
  let (verdict, viruses, reason) = match reply.verdict {
    Verdict::Clean => ("clean", vec![], None),
    Verdict::Malicious { viruses } => ("malicious", viruses, None),
    Verdict::ScanError { reason } => ("error", vec![], Some(reason.as_str().to_string())),
  };
  Outcome {
    verdict: Some(verdict.into()),
    viruses,
    reply: reply.text,
    reason,
    endpoint,
    bytes: bytes as f64,
    duration_ms: duration.as_secs_f64() * 1000.0,
    error: None,
  }
}

fn scan_outcome(result: std::result::Result<ScanOutcome, ClamError>, endpoint: &Endpoint) -> Outcome {
  match result {
    Ok(o) => reply_outcome(o.reply, o.endpoint.to_string(), o.bytes, o.duration),
    Err(err) => failed(err, endpoint.to_string()),
  }
}

/// A clamd client for one set of connection options.
#[napi]
pub struct NativeClient {
  client: Arc<Client>,
}

#[napi]
impl NativeClient {
  #[napi(constructor)]
  pub fn new(options: ClientOptions) -> Result<Self> {
    let endpoint = Endpoint::parse(&options.endpoint)
      .ok_or_else(|| Error::new(Status::InvalidArg, format!("invalid clamd endpoint: {}", options.endpoint)))?;
    let config = ClientConfig {
      endpoint,
      idle_timeout: ms(options.timeout),
      retries: options.retries,
      retry_delay: Duration::from_millis(options.retry_delay.max(0.0) as u64),
    };
    Ok(NativeClient { client: Arc::new(Client::new(config)) })
  }

  /// Scans a Buffer. Do not modify it until the promise settles (as with `socket.write`).
  #[napi]
  pub async fn scan_buffer(&self, buffer: Buffer) -> Outcome {
    let result = self.client.scan(Payload::Buffer(Arc::new(buffer))).await;
    scan_outcome(result, &self.client.config().endpoint)
  }

  #[napi]
  pub async fn scan_file(&self, path: String) -> Outcome {
    let result = self.client.scan(Payload::File(path)).await;
    scan_outcome(result, &self.client.config().endpoint)
  }

  /// Starts an INSTREAM upload fed chunk by chunk from JS.
  #[napi]
  pub fn open_stream(&self) -> StreamUpload {
    let (tx, rx) = mpsc::channel(1);
    let (done_tx, done_rx) = oneshot::channel();
    let client = self.client.clone();
    napi::bindgen_prelude::spawn(async move {
      let endpoint = client.config().endpoint.clone();
      let result = client.scan(Payload::Stream(Source::channel(rx))).await;
      let _ = done_tx.send(scan_outcome(result, &endpoint));
    });
    StreamUpload { tx: Mutex::new(Some(tx)), done: Mutex::new(Some(done_rx)) }
  }

  /// Sends PING, VERSION or STATS; the reply text is in `reply`.
  #[napi]
  pub async fn command(&self, name: String) -> Outcome {
    let endpoint = self.client.config().endpoint.to_string();
    let started = std::time::Instant::now();
    match self.client.command(&name).await {
      Ok(text) => Outcome {
        verdict: None,
        viruses: vec![],
        reply: text,
        reason: None,
        endpoint,
        bytes: 0.0,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        error: None,
      },
      Err(err) => failed(err, endpoint),
    }
  }
}

type ChunkSender = mpsc::Sender<std::result::Result<Vec<u8>, ClamError>>;

/// The native end of `scanStream`: `write` resolves once clamd's side took the chunk (that is
/// the backpressure), and resolves `false` once the scan has ended early.
#[napi]
pub struct StreamUpload {
  tx: Mutex<Option<ChunkSender>>,
  done: Mutex<Option<oneshot::Receiver<Outcome>>>,
}

#[napi]
impl StreamUpload {
  #[napi]
  pub async fn write(&self, chunk: Buffer) -> bool {
    let tx = self.tx.lock().unwrap().clone();
    match tx {
      Some(tx) => tx.send(Ok(chunk.to_vec())).await.is_ok(),
      None => false,
    }
  }

  /// Ends the upload and resolves the scan's outcome.
  #[napi]
  pub async fn finish(&self) -> Outcome {
    self.tx.lock().unwrap().take();
    let done = self.done.lock().unwrap().take();
    match done {
      Some(rx) => rx.await.unwrap_or_else(|_| failed(ClamError::Internal("scan task ended".into()), String::new())),
      None => failed(ClamError::Internal("finish() called twice".into()), String::new()),
    }
  }

  /// Fails the upload because its source failed; the shim rejects with the source's own error.
  #[napi]
  pub fn abort(&self, message: String) {
    if let Some(tx) = self.tx.lock().unwrap().take() {
      let _ = tx.try_send(Err(ClamError::SourceFailed(message)));
    }
  }
}

/// Local mode: runs `clamscan` on a path.
#[napi]
pub async fn local_scan(path: String, database: Option<String>) -> Outcome {
  match local::scan(path, database).await {
    Ok(o) => reply_outcome(o.reply, "clamscan".into(), 0, o.duration),
    Err(err) => failed(err, "clamscan".into()),
  }
}
