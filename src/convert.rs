//! Conversions between the crate's types and the JS-facing objects of the `#[napi]` surface.

use std::time::Duration;

use clamd_client::client::{CallError, ClientConfig, ScanOutcome};
use clamd_client::discovery::ResolverSpec;
use clamd_client::error::ClamError;
use clamd_client::file;
use clamd_client::observe::Event;
use clamd_client::protocol::{ScanReply, Verdict};
use clamd_client::tls::{TlsOptions, TlsSettings};
use clamd_client::transport::Endpoint;

use crate::{
  ClientEvent, ClientOptions, EndpointKind, EndpointObject, ErrorKind, NativeError, Outcome, TlsObject, VerdictName,
};

/// The client's configuration from the shim's normalised options.
pub fn client_config(options: ClientOptions) -> Result<ClientConfig, String> {
  let mut endpoints = Vec::new();
  let mut discover = Vec::new();
  let mut discover_srv = Vec::new();
  for e in &options.endpoints {
    match e.discover.as_deref() {
      None => endpoints.push(endpoint(e)?),
      Some(kind @ ("address" | "srv")) => {
        let srv = kind == "srv";
        // An SRV record names the port; the endpoint has none.
        let with_port = EndpointObject {
          port: if srv { Some(e.port.unwrap_or(1)) } else { e.port },
          ..e.clone()
        };
        let parsed = endpoint(&with_port)?;
        if parsed.is_unix() {
          return Err("discovery is for tcp and tls endpoints".into());
        }
        if srv {
          discover_srv.push(parsed);
        } else {
          discover.push(parsed);
        }
      }
      Some(other) => return Err(format!("invalid discover {other:?}: expected \"address\" or \"srv\"")),
    }
  }
  if endpoints.is_empty() && discover.is_empty() && discover_srv.is_empty() {
    return Err("at least one clamd endpoint is required".into());
  }
  let resolver = if options.resolver.is_empty() {
    ResolverSpec::System
  } else {
    let servers = options
      .resolver
      .iter()
      .map(|s| {
        s.parse::<std::net::SocketAddr>()
          .map_err(|_| format!("invalid resolver address {s:?}: expected ip:port"))
      })
      .collect::<Result<Vec<_>, _>>()?;
    ResolverSpec::Nameservers(servers)
  };
  Ok(ClientConfig {
    endpoints,
    discover,
    discover_srv,
    resolver,
    discover_interval: Duration::from_millis(options.discover_interval.max(1000.0) as u64),
    idle_timeout: ms(options.timeout),
    connect_timeout: ms(options.connect_timeout),
    queue_timeout: ms(options.queue_timeout),
    retries: options.retries,
    retry_delay: Duration::from_millis(options.retry_delay.max(0.0) as u64),
    max_connections: options.max_connections as usize,
    fdpass: options.fdpass,
    max_file_size: (options.max_file_size > 0.0).then_some(options.max_file_size as u64),
    max_connection_age: ms(options.max_connection_age),
  })
}

fn endpoint(e: &EndpointObject) -> Result<Endpoint, String> {
  let tcp = |host: &Option<String>, port: Option<u32>| match (host, port) {
    (Some(host), Some(port)) if !host.is_empty() && (1..=65535).contains(&port) => Some((host.clone(), port as u16)),
    _ => None,
  };
  match (e.kind, &e.path) {
    (EndpointKind::Tcp, _) => {
      if let Some((host, port)) = tcp(&e.host, e.port) {
        return Ok(Endpoint::Tcp { host, port });
      }
    }
    (EndpointKind::Tls, _) => {
      if let Some((host, port)) = tcp(&e.host, e.port) {
        return Ok(Endpoint::Tls {
          host,
          port,
          tls: tls_settings(e.tls.as_ref())?,
        });
      }
    }
    (EndpointKind::Unix, Some(path)) if path.starts_with('/') => return Ok(Endpoint::Unix { path: path.clone() }),
    _ => {}
  }
  Err("invalid clamd endpoint: a tcp or tls endpoint needs host and port 1-65535, a unix one an absolute path".into())
}

fn tls_settings(tls: Option<&TlsObject>) -> Result<TlsSettings, String> {
  let bytes = |pem: &Option<String>| pem.as_ref().map(|p| p.as_bytes().to_vec());
  let options = match tls {
    Some(t) => TlsOptions {
      ca: bytes(&t.ca),
      cert: bytes(&t.cert),
      key: bytes(&t.key),
      servername: t.servername.clone(),
      reject_unauthorized: t.reject_unauthorized.unwrap_or(true),
    },
    None => TlsOptions {
      reject_unauthorized: true,
      ..TlsOptions::default()
    },
  };
  TlsSettings::new(options)
}

pub fn endpoint_object(e: &Endpoint) -> EndpointObject {
  let (kind, host, port, path) = match e {
    Endpoint::Tcp { host, port } => (EndpointKind::Tcp, Some(host.clone()), Some(u32::from(*port)), None),
    Endpoint::Tls { host, port, .. } => (EndpointKind::Tls, Some(host.clone()), Some(u32::from(*port)), None),
    Endpoint::Unix { path } => (EndpointKind::Unix, None, None, Some(path.clone())),
  };
  EndpointObject {
    kind,
    host,
    port,
    path,
    tls: None,
    discover: None,
  }
}

/// Local mode's "endpoint".
pub fn clamscan() -> EndpointObject {
  EndpointObject {
    kind: EndpointKind::Clamscan,
    host: None,
    port: None,
    path: None,
    tls: None,
    discover: None,
  }
}

pub fn ms(d: f64) -> Option<Duration> {
  (d > 0.0).then(|| Duration::from_millis(d as u64))
}

pub fn failed(err: ClamError, endpoint: Option<EndpointObject>) -> Outcome {
  let kind = match &err {
    ClamError::Os { .. } => ErrorKind::Os,
    ClamError::Tls { .. } => ErrorKind::Tls,
    ClamError::NotFound { .. } => ErrorKind::Dns,
    ClamError::Timeout(_)
    | ClamError::ClamscanTimeout(_)
    | ClamError::QueueTimeout(_)
    | ClamError::SourceTimeout { .. } => ErrorKind::Timeout,
    ClamError::FileChanged(_) => ErrorKind::Changed,
    ClamError::HangUp => ErrorKind::Hangup,
    ClamError::Spawn { .. } => ErrorKind::Spawn,
    ClamError::UnexpectedExit(_) | ClamError::KilledBySignal(_) => ErrorKind::Exit,
    ClamError::SourceFailed(_) => ErrorKind::Source,
    ClamError::Aborted => ErrorKind::Aborted,
    ClamError::Closed => ErrorKind::Closed,
    ClamError::Protocol(_) => ErrorKind::Protocol,
    ClamError::Internal(_) => ErrorKind::Internal,
  };
  let mut native = NativeError {
    message: err.to_string(),
    kind,
    code: err.code().to_string(),
    syscall: None,
    address: None,
    port: None,
    path: None,
    hostname: None,
    spawnargs: None,
  };
  match err {
    ClamError::Os {
      op,
      address,
      port,
      path,
      ..
    } => {
      native.syscall = Some(op.as_str().into());
      native.address = address;
      native.port = port.map(u32::from);
      native.path = path;
    }
    ClamError::SourceTimeout { path, .. } => {
      native.syscall = Some("read".into());
      native.path = path;
    }
    // Node's TLS errors carry no syscall; the endpoint is named like a socket error's.
    ClamError::Tls { address, port, .. } => {
      native.address = Some(address);
      native.port = Some(u32::from(port));
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
    limit: None,
    endpoint,
    bytes: 0.0,
    duration_ms: 0.0,
    file_id: None,
    attempts: None,
    error: Some(native),
  }
}

pub fn reply_outcome(
  reply: ScanReply,
  endpoint: Option<EndpointObject>,
  bytes: u64,
  duration: Duration,
  file_id: Option<file::FileId>,
) -> Outcome {
  let (verdict, viruses, reason, limit) = match reply.verdict {
    Verdict::Clean => (VerdictName::Clean, vec![], None, None),
    Verdict::Malicious { viruses } => (VerdictName::Malicious, viruses, None, None),
    Verdict::ScanError { reason } => (
      VerdictName::Error,
      vec![],
      Some(reason.as_str().to_string()),
      reason.limit().map(str::to_string),
    ),
  };
  Outcome {
    verdict: Some(verdict),
    viruses,
    reply: reply.text,
    reason,
    limit,
    endpoint,
    bytes: bytes as f64,
    duration_ms: duration.as_secs_f64() * 1000.0,
    file_id: file_id.map(|id| id.to_string()),
    attempts: None,
    error: None,
  }
}

/// A verdict's code for the verdict-only path: 0 Clean, 1 Malicious, 2 ScanError.
pub fn verdict_code(reply: &ScanReply) -> u32 {
  match reply.verdict {
    Verdict::Clean => 0,
    Verdict::Malicious { .. } => 1,
    Verdict::ScanError { .. } => 2,
  }
}

pub fn call_failed(err: CallError) -> Outcome {
  failed(err.error, err.endpoint.as_ref().map(endpoint_object))
}

/// A clamd scan's result as the outcome JS gets (the report, or the failure).
pub fn scan_outcome(result: Result<ScanOutcome, CallError>) -> Outcome {
  match result {
    Ok(o) => Outcome {
      attempts: Some(o.attempts),
      ..reply_outcome(
        o.reply,
        o.endpoint.as_ref().map(endpoint_object),
        o.bytes,
        o.duration,
        o.file_id,
      )
    },
    Err(err) => call_failed(err),
  }
}

/// An endpoint event as JS sees it.
pub fn client_event(event: Event) -> ClientEvent {
  let mut e = ClientEvent {
    kind: String::new(),
    endpoint: None,
    from: None,
    to: None,
    attempt: None,
    error: None,
    name: None,
    added: None,
    removed: None,
  };
  match event {
    Event::Connect { endpoint } => {
      e.kind = "connect".into();
      e.endpoint = Some(endpoint_object(&endpoint));
    }
    Event::Down { endpoint, error } => {
      e.kind = "down".into();
      e.endpoint = Some(endpoint_object(&endpoint));
      e.error = failed(error, None).error;
    }
    Event::Up { endpoint } => {
      e.kind = "up".into();
      e.endpoint = Some(endpoint_object(&endpoint));
    }
    Event::Failover { from, to } => {
      e.kind = "failover".into();
      e.from = Some(endpoint_object(&from));
      e.to = Some(endpoint_object(&to));
    }
    Event::Retry {
      endpoint,
      attempt,
      error,
    } => {
      e.kind = "retry".into();
      e.endpoint = endpoint.as_ref().map(endpoint_object);
      e.attempt = Some(attempt);
      e.error = failed(error, None).error;
    }
    Event::Discovery { name, added, removed } => {
      e.kind = "discovery".into();
      e.name = Some(name);
      e.added = Some(added.iter().map(endpoint_object).collect());
      e.removed = Some(removed.iter().map(endpoint_object).collect());
    }
  }
  e
}
