//! What a scan uploads: an in-memory buffer, a file read on its own thread, or chunks pushed from
//! a JS stream. Each fills INSTREAM frames one at a time, so memory stays bounded.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::error::{ClamError, Op};
use crate::protocol::{self, CHUNK_MAX};

/// Bytes the caller handed over; kept alive until the scan settles so it can be replayed.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

pub enum Source {
  Buffer {
    bytes: SharedBytes,
    offset: usize,
  },
  /// Chunks from a reader thread (files) or from JS (streams). The first `REPLAY_MAX` bytes
  /// handed out are kept, so an attempt that fails early (a reset right after connect) can be
  /// replayed; past that the source is single-use.
  Channel {
    rx: mpsc::Receiver<Result<Vec<u8>, ClamError>>,
    pending: Option<Vec<u8>>,
    replay: Replay,
    /// The file the chunks come from (a FIFO, a device); None for a JS stream.
    origin: Option<String>,
  },
}

/// How much of a stream is kept for a replay.
pub const REPLAY_MAX: usize = 256 * 1024;

#[derive(Default)]
pub struct Replay {
  chunks: Vec<Vec<u8>>,
  bytes: usize,
  /// Next chunk to hand out again after a rewind.
  position: usize,
  /// False once more than `REPLAY_MAX` bytes were handed out.
  exhausted: bool,
}

impl Source {
  pub fn buffer(bytes: SharedBytes) -> Self {
    Source::Buffer { bytes, offset: 0 }
  }

  pub fn channel(rx: mpsc::Receiver<Result<Vec<u8>, ClamError>>) -> Self {
    Source::Channel {
      rx,
      pending: None,
      replay: Replay::default(),
      origin: None,
    }
  }

  fn from_file(rx: mpsc::Receiver<Result<Vec<u8>, ClamError>>, path: String) -> Self {
    Source::Channel {
      rx,
      pending: None,
      replay: Replay::default(),
      origin: Some(path),
    }
  }

  /// The error for a source that gave no data for `idle`: about the upload, not clamd.
  pub fn idle_error(&self, idle: std::time::Duration) -> ClamError {
    ClamError::SourceTimeout {
      ms: idle.as_millis() as u64,
      path: match self {
        Source::Channel { origin, .. } => origin.clone(),
        Source::Buffer { .. } => None,
      },
    }
  }

  /// Reads an open regular file from its start on a plain thread (each attempt reads the same
  /// descriptor again, so a replay sends the same file even if the path was changed meanwhile).
  /// tokio's file I/O would use its blocking pool, which keeps Node from exiting under napi-rs;
  /// a thread of our own ends with the read.
  pub fn file(file: Arc<std::fs::File>, path: String) -> Self {
    let (tx, rx) = mpsc::channel(2);
    let path_for_errors = path.clone();
    std::thread::Builder::new()
      .name("pompelmi-read".into())
      .spawn(move || read_file(&file, &path, tx))
      .expect("spawn file reader thread");
    Source::single_use(rx, path_for_errors)
  }

  /// Reads a FIFO without blocking any thread: the descriptor is non-blocking and read when the
  /// runtime says it is readable. A FIFO without a writer is a stream that has not started: the
  /// idle timeout ends the wait.
  #[cfg(unix)]
  pub fn fifo(file: std::fs::File, path: String) -> Self {
    let (tx, rx) = mpsc::channel(2);
    let path_for_errors = path.clone();
    tokio::spawn(async move {
      use tokio::io::AsyncReadExt;
      let mut pipe = match tokio::net::unix::pipe::Receiver::from_file_unchecked(file) {
        Ok(p) => p,
        Err(err) => {
          let _ = tx.send(Err(ClamError::file(&err, Op::Read, &path))).await;
          return;
        }
      };
      loop {
        let mut buf = vec![0u8; CHUNK_MAX];
        let n = tokio::select! {
          n = pipe.read(&mut buf) => n,
          _ = tx.closed() => return, // the scan ended early
        };
        match n {
          Ok(0) => return,
          Ok(n) => {
            buf.truncate(n);
            if tx.send(Ok(buf)).await.is_err() {
              return;
            }
          }
          Err(err) => {
            let _ = tx.send(Err(ClamError::file(&err, Op::Read, &path))).await;
            return;
          }
        }
      }
    });
    Source::from_file(rx, path_for_errors)
  }

  /// Reads a device (`/dev/zero`, a tty) with blocking reads on a thread of its own; the size
  /// guard or the idle timeout ends an endless one.
  pub fn device(file: std::fs::File, path: String) -> Self {
    let (tx, rx) = mpsc::channel(2);
    let origin = path.clone();
    std::thread::Builder::new()
      .name("pompelmi-read".into())
      .spawn(move || read_stream(file, &path, tx))
      .expect("spawn device reader thread");
    Source::from_file(rx, origin)
  }

  fn single_use(rx: mpsc::Receiver<Result<Vec<u8>, ClamError>>, path: String) -> Self {
    Source::Channel {
      rx,
      pending: None,
      replay: Replay {
        exhausted: true,
        ..Replay::default()
      },
      origin: Some(path),
    }
  }

  /// The whole payload, for a buffer.
  pub fn as_bytes(&self) -> Option<&[u8]> {
    match self {
      Source::Buffer { bytes, .. } => Some((**bytes).as_ref()),
      Source::Channel { .. } => None,
    }
  }

  /// True for chunks pushed from JS (or a reader thread), which may arrive slowly.
  pub fn is_stream(&self) -> bool {
    matches!(self, Source::Channel { .. })
  }

  /// Whether a failed attempt can start over with this source.
  pub fn replayable(&self) -> bool {
    match self {
      Source::Buffer { .. } => true,
      Source::Channel { replay, .. } => !replay.exhausted,
    }
  }

  /// Starts the source over for another attempt (see `replayable`).
  pub fn rewind(&mut self) {
    match self {
      Source::Buffer { offset, .. } => *offset = 0,
      Source::Channel { replay, .. } => replay.position = 0,
    }
  }

  /// Appends the next INSTREAM frame (header and data) to `frame`. Returns the payload size, or
  /// 0 at the end. Chunks larger than `CHUNK_MAX` are split, empty ones skipped.
  pub async fn next_frame(&mut self, frame: &mut Vec<u8>) -> Result<usize, ClamError> {
    match self {
      Source::Buffer { bytes, offset } => {
        let data = (**bytes).as_ref();
        let end = (*offset + CHUNK_MAX).min(data.len());
        let chunk = &data[*offset..end];
        *offset = end;
        push_frame(frame, chunk);
        Ok(chunk.len())
      }
      Source::Channel {
        rx, pending, replay, ..
      } => {
        if replay.position < replay.chunks.len() {
          let chunk = &replay.chunks[replay.position];
          replay.position += 1;
          push_frame(frame, chunk);
          return Ok(chunk.len());
        }
        let chunk = loop {
          if let Some(mut buf) = pending.take() {
            if buf.len() > CHUNK_MAX {
              *pending = Some(buf.split_off(CHUNK_MAX));
            }
            if !buf.is_empty() {
              break buf;
            }
          }
          match rx.recv().await {
            Some(Ok(chunk)) => *pending = Some(chunk),
            Some(Err(err)) => {
              replay.exhausted = true;
              return Err(err);
            }
            None => return Ok(0),
          }
        };
        push_frame(frame, &chunk);
        if !replay.exhausted {
          if replay.bytes + chunk.len() <= REPLAY_MAX {
            replay.bytes += chunk.len();
            replay.position += 1;
            replay.chunks.push(chunk.clone());
          } else {
            replay.exhausted = true;
            replay.chunks = Vec::new();
          }
        }
        Ok(chunk.len())
      }
    }
  }
}

fn push_frame(frame: &mut Vec<u8>, chunk: &[u8]) {
  protocol::instream_chunk(frame, chunk);
}

/// Reads an open regular file from its start (positioned reads: the descriptor's offset is not
/// shared state), chunk by chunk, until its end, an error, or the scan stops reading.
fn read_file(file: &std::fs::File, path: &str, tx: mpsc::Sender<Result<Vec<u8>, ClamError>>) {
  #[cfg(unix)]
  use std::os::unix::fs::FileExt;
  let mut offset = 0u64;
  send_chunks(path, tx, |buf| {
    #[cfg(unix)]
    let n = file.read_at(buf, offset)?;
    #[cfg(not(unix))]
    let n = std::os::windows::fs::FileExt::seek_read(file, buf, offset)?;
    offset += n as u64;
    Ok(n)
  })
}

/// Reads a stream-like file (a device) with ordinary reads until its end.
fn read_stream(mut file: std::fs::File, path: &str, tx: mpsc::Sender<Result<Vec<u8>, ClamError>>) {
  use std::io::Read;
  send_chunks(path, tx, |buf| file.read(buf))
}

/// The reader threads' loop: `read` fills a chunk (0 at the end); each chunk goes to the scan,
/// a read error too (as the file's error), and the loop ends once the scan stops reading.
fn send_chunks(
  path: &str,
  tx: mpsc::Sender<Result<Vec<u8>, ClamError>>,
  mut read: impl FnMut(&mut [u8]) -> std::io::Result<usize>,
) {
  loop {
    let mut buf = vec![0u8; CHUNK_MAX];
    match read(&mut buf) {
      Ok(0) => return,
      Ok(n) => {
        buf.truncate(n);
        if tx.blocking_send(Ok(buf)).is_err() {
          return; // the scan ended early (a reply, an error or an abort)
        }
      }
      Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
      Err(err) => {
        let _ = tx.blocking_send(Err(ClamError::file(&err, Op::Read, path)));
        return;
      }
    }
  }
}
