//! The clamd client: one INSTREAM exchange per attempt, read and write at once, with an idle
//! timeout, retries of what can be replayed, and simple commands (PING, VERSION, STATS).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ClamError;
use crate::protocol::{self, ReplyEvent, ReplyReader, ScanReply, END_OF_STREAM};
use crate::source::{SharedBytes, Source};
use crate::transport::{self, Conn, Endpoint};

#[derive(Debug, Clone)]
pub struct ClientConfig {
  pub endpoint: Endpoint,
  /// Idle timeout: the longest time without socket progress. `None` disables it.
  pub idle_timeout: Option<Duration>,
  pub retries: u32,
  pub retry_delay: Duration,
}

/// What to scan.
pub enum Payload {
  Buffer(SharedBytes),
  File(String),
  /// A JS stream: replayable only while none of it was consumed.
  Stream(Source),
}

#[derive(Debug, Clone)]
pub struct ScanOutcome {
  pub reply: ScanReply,
  pub endpoint: Endpoint,
  /// Payload bytes sent to clamd.
  pub bytes: u64,
  pub duration: Duration,
}

pub struct Client {
  config: ClientConfig,
}

impl Client {
  pub fn new(config: ClientConfig) -> Self {
    Client { config }
  }

  pub fn config(&self) -> &ClientConfig {
    &self.config
  }

  /// Scans a payload with INSTREAM, retrying connection failures, resets and timeouts while the
  /// payload can be sent again. A reply, whatever it says, is never retried.
  pub async fn scan(&self, payload: Payload) -> Result<ScanOutcome, ClamError> {
    let started = Instant::now();
    let mut stream_source = None;
    let mut attempt = 0;
    let mut payload = Some(payload);
    loop {
      let mut source = match payload.take() {
        Some(Payload::Buffer(bytes)) => {
          payload = Some(Payload::Buffer(bytes.clone()));
          Source::buffer(bytes)
        }
        Some(Payload::File(path)) => {
          let source = Source::file(path.clone());
          payload = Some(Payload::File(path));
          source
        }
        Some(Payload::Stream(source)) => source,
        None => stream_source.take().expect("stream source kept for retry"),
      };
      let result = self.instream_attempt(&mut source).await;
      match result {
        Ok((reply, bytes)) => {
          return Ok(ScanOutcome {
            reply,
            endpoint: self.config.endpoint.clone(),
            bytes,
            duration: started.elapsed(),
          })
        }
        Err(err) => {
          // Buffers and files are opened afresh for each attempt; streams replay what they kept.
          let replayable = payload.is_some() || source.replayable();
          if attempt >= self.config.retries || !err.is_retryable() || !replayable {
            return Err(err);
          }
          attempt += 1;
          if payload.is_none() {
            stream_source = Some(source);
          }
          tokio::time::sleep(self.config.retry_delay).await;
        }
      }
    }
  }

  async fn instream_attempt(&self, source: &mut Source) -> Result<(ScanReply, u64), ClamError> {
    source.rewind();
    let conn = transport::connect(&self.config.endpoint, self.config.idle_timeout).await?;
    instream(conn, &self.config.endpoint, source, self.config.idle_timeout).await
  }

  /// Sends a command such as PING, VERSION or STATS and returns clamd's reply, NUL stripped.
  pub async fn command(&self, name: &str) -> Result<String, ClamError> {
    let mut attempt = 0;
    loop {
      match self.command_attempt(name).await {
        Ok(text) => return Ok(text),
        Err(err) if attempt < self.config.retries && err.is_retryable() => {
          attempt += 1;
          tokio::time::sleep(self.config.retry_delay).await;
        }
        Err(err) => return Err(err),
      }
    }
  }

  async fn command_attempt(&self, name: &str) -> Result<String, ClamError> {
    let endpoint = &self.config.endpoint;
    let idle = self.config.idle_timeout;
    let mut conn = transport::connect(endpoint, idle).await?;
    let exchange = async {
      conn.write_all(&protocol::command(name)).await.map_err(|e| endpoint.io_error(&e, "write"))?;
      let raw = read_reply(&mut conn, endpoint).await?;
      Ok(protocol::normalise(&raw))
    };
    with_deadline(idle, exchange).await
  }
}

async fn with_deadline<T>(
  limit: Option<Duration>,
  fut: impl std::future::Future<Output = Result<T, ClamError>>,
) -> Result<T, ClamError> {
  match limit {
    Some(d) => tokio::time::timeout(d, fut).await.unwrap_or(Err(ClamError::Timeout(d.as_millis() as u64))),
    None => fut.await,
  }
}

/// Reads one NUL-terminated reply (or what arrives before EOF).
async fn read_reply(conn: &mut Conn, endpoint: &Endpoint) -> Result<Vec<u8>, ClamError> {
  let mut reader = ReplyReader::new();
  let mut buf = vec![0u8; 8192];
  loop {
    let n = conn.read(&mut buf).await.map_err(|e| endpoint.io_error(&e, "read"))?;
    if n == 0 {
      return reader.take_rest().ok_or(ClamError::HangUp);
    }
    reader.push(&buf[..n]);
    match reader.next_event() {
      Some(ReplyEvent::Reply(reply)) => return Ok(reply),
      Some(ReplyEvent::TooLong) => return Err(ClamError::Internal("clamd reply exceeds 64 KiB".into())),
      None => {}
    }
  }
}

/// Milliseconds since `origin`, shared by the reader, the writer and the idle watchdog.
struct Activity {
  origin: Instant,
  last_ms: AtomicU64,
}

impl Activity {
  fn new() -> Self {
    Activity { origin: Instant::now(), last_ms: AtomicU64::new(0) }
  }
  fn touch(&self) {
    self.last_ms.store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
  }
  fn idle_deadline(&self, idle: Duration) -> tokio::time::Instant {
    let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
    tokio::time::Instant::from_std(self.origin + last + idle)
  }
}

/// One INSTREAM exchange on a fresh connection. The reply is read while the payload is written:
/// when clamd answers early (`INSTREAM size limit exceeded. ERROR`, then it closes) the upload
/// stops and the reply wins, instead of surfacing a random EPIPE or ECONNRESET.
pub async fn instream(
  conn: Conn,
  endpoint: &Endpoint,
  source: &mut Source,
  idle: Option<Duration>,
) -> Result<(ScanReply, u64), ClamError> {
  let (mut rd, mut wr) = tokio::io::split(conn);
  let activity = Activity::new();
  let sent = AtomicU64::new(0);

  let upload = async {
    wr.write_all(&protocol::command("INSTREAM")).await.map_err(|e| endpoint.io_error(&e, "write"))?;
    let mut frame = Vec::with_capacity(protocol::CHUNK_MAX + 4);
    loop {
      frame.clear();
      let n = source.next_frame(&mut frame).await?;
      if n == 0 {
        break;
      }
      wr.write_all(&frame).await.map_err(|e| endpoint.io_error(&e, "write"))?;
      sent.fetch_add(n as u64, Ordering::Relaxed);
      activity.touch();
    }
    wr.write_all(&END_OF_STREAM).await.map_err(|e| endpoint.io_error(&e, "write"))?;
    activity.touch();
    Ok::<(), ClamError>(())
  };

  let reply = async {
    let mut reader = ReplyReader::new();
    let mut buf = vec![0u8; 4096];
    loop {
      let n = match rd.read(&mut buf).await {
        Ok(n) => n,
        Err(e) => return Err(endpoint.io_error(&e, "read")),
      };
      activity.touch();
      if n == 0 {
        return reader.take_rest().map(|raw| protocol::classify(&raw)).ok_or(ClamError::HangUp);
      }
      reader.push(&buf[..n]);
      match reader.next_event() {
        Some(ReplyEvent::Reply(raw)) => return Ok(protocol::classify(&raw)),
        Some(ReplyEvent::TooLong) => return Ok(protocol::too_long_reply()),
        None => {}
      }
    }
  };

  let watchdog = async {
    match idle {
      Some(idle) => loop {
        let deadline = activity.idle_deadline(idle);
        tokio::time::sleep_until(deadline).await;
        if activity.idle_deadline(idle) <= tokio::time::Instant::now() {
          return ClamError::Timeout(idle.as_millis() as u64);
        }
      },
      None => std::future::pending().await,
    }
  };

  tokio::pin!(upload, reply, watchdog);
  let mut upload_failed: Option<ClamError> = None;
  loop {
    tokio::select! {
      result = &mut reply => {
        // A reply always wins over the write error that its early arrival caused.
        return match (result, upload_failed) {
          (Ok(reply), _) => Ok((reply, sent.load(Ordering::Relaxed))),
          (Err(_), Some(write_err)) => Err(write_err),
          (Err(err), None) => Err(err),
        };
      }
      result = &mut upload, if upload_failed.is_none() => match result {
        Ok(()) => {
          return tokio::select! {
            r = &mut reply => r.map(|reply| (reply, sent.load(Ordering::Relaxed))),
            e = &mut watchdog => Err(e),
          };
        }
        // An unreadable file or a failed JS stream ends the scan at once.
        Err(err) if err.is_payload_error() => return Err(err),
        // A write error: clamd may still have said why it stopped reading, so keep listening.
        Err(err) => upload_failed = Some(err),
      },
      err = &mut watchdog => return Err(err),
    }
  }
}
