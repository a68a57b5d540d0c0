//! PING, VERSION and STATS: one command on a connection of its own (commands are rare, and the
//! pool's health probes need fresh connections).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connector::Connector;
use crate::error::{ClamError, Op};
use crate::protocol::{self, ReplyEvent, ReplyReader};

/// Sends one command and returns clamd's reply text.
/// PING must be answered exactly `PONG`: anything else (an HTTP server on clamd's port) is no
/// clamd.
/// `probe`: a health probe, whose connect also ends within `idle`.
pub async fn command_once(
  connector: &Connector,
  name: &str,
  idle: Option<Duration>,
  probe: bool,
) -> Result<String, ClamError> {
  let endpoint = &connector.endpoint;
  let conn = match (probe, idle) {
    (true, Some(limit)) => connector.connect_within(limit).await?,
    _ => connector.connect().await?,
  };
  let exchange = async {
    let (mut rd, mut wr) = conn.into_split();
    wr.write_all(&protocol::command(name))
      .await
      .map_err(|e| endpoint.io_error(&e, Op::Write))?;
    let mut reader = ReplyReader::new();
    let mut buf = vec![0u8; 8192];
    loop {
      let n = rd.read(&mut buf).await.map_err(|e| endpoint.io_error(&e, Op::Read))?;
      if n == 0 {
        let raw = reader.take_rest().ok_or(ClamError::HangUp)?;
        return Ok(protocol::normalise(&raw));
      }
      reader.push(&buf[..n]);
      match reader.next_event() {
        Some(ReplyEvent::Reply(raw)) => return Ok(protocol::normalise(&raw)),
        Some(ReplyEvent::TooLong) => return Err(ClamError::Protocol("clamd reply exceeds 64 KiB".into())),
        None => {}
      }
    }
  };
  let text = match idle {
    Some(d) => tokio::time::timeout(d, exchange)
      .await
      .unwrap_or(Err(ClamError::Timeout(d.as_millis() as u64)))?,
    None => exchange.await?,
  };
  if name == "PING" && text != "PONG" {
    let shown: String = text.chars().take(80).collect();
    return Err(ClamError::Protocol(format!("not clamd: PING was answered {shown:?}")));
  }
  Ok(text)
}
