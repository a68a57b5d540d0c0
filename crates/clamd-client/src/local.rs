//! Local mode: `clamscan --no-summary --alert-exceeds-max=yes [--database=DIR] -- <file>`, no
//! shell. The file is handed over as an open descriptor (`/proc/self/fd/3`), so what clamscan
//! reads is exactly what was opened (or written to an anonymous temp file, which leaves nothing
//! behind whatever happens to the process), and no file name reaches its output. clamscan dies
//! with its parent (`PR_SET_PDEATHSIG`), is killed at `timeout`, and its output is capped.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::cancel::Cancel;
use crate::error::ClamError;
use crate::file::{self, FileId, Opened};
use crate::protocol::{self, ErrorReason, ScanReply, Verdict};
use crate::source::Source;

/// What clamscan scans.
pub enum What {
  /// A descriptor of the shim's (an anonymous temp file); duplicated here.
  Fd(i32),
  Path {
    path: String,
    rule: file::OpenRule,
  },
}

pub struct Job {
  pub database: Option<String>,
  pub timeout: Option<Duration>,
  pub max_file_size: Option<u64>,
}

pub struct LocalOutcome {
  pub reply: ScanReply,
  pub duration: Duration,
  pub bytes: u64,
  /// False when clamscan was not run (the payload was over `max_file_size`).
  pub endpoint: bool,
  pub file_id: Option<FileId>,
}

/// clamscan's output kept at most (a detection line is short; the rest is drained unread).
const OUTPUT_MAX: usize = 1024 * 1024;

/// Where the child sees descriptor 3.
#[cfg(target_os = "linux")]
const FD_PATH: &str = "/proc/self/fd/3";
#[cfg(not(target_os = "linux"))]
const FD_PATH: &str = "/dev/fd/3";

/// The clamscan arguments for one path. `--` keeps a path that starts with `-` from being read as
/// an option; `--alert-exceeds-max=yes` makes a file clamscan skips for its limits (which it
/// otherwise "assumes clean") a `Heuristics.Limits.Exceeded.*` alert, as with clamd.
pub fn clamscan_args(path: &str, database: Option<&str>) -> Vec<String> {
  let mut args = vec!["--no-summary".to_string(), "--alert-exceeds-max=yes".to_string()];
  if let Some(db) = database {
    args.push(format!("--database={db}"));
  }
  args.push("--".to_string());
  args.push(path.to_string());
  args
}

/// Virus names from clamscan's output lines `<path>: <name> FOUND` for the one path it was
/// given: other lines (a file name with a newline in it, for a directory) cannot add a name.
pub fn parse_viruses(stdout: &str, path: Option<&str>) -> Vec<String> {
  stdout
    .lines()
    .filter_map(|line| line.strip_suffix(" FOUND"))
    .filter_map(|head| match path {
      Some(p) => head.strip_prefix(p).and_then(|rest| rest.strip_prefix(": ")),
      None => Some(head.rsplit_once(": ").map_or(head, |(_, name)| name)),
    })
    .filter(|name| !name.is_empty() && !name.contains(": "))
    .map(str::to_string)
    .collect()
}

/// What clamscan reads as descriptor 3. A directory is refused (`EISDIR`) when it is opened, as
/// in clamd mode: clamscan without `--recursive` would skip its subdirectories and say Clean.
enum Target {
  Fd(std::os::fd::OwnedFd),
}

pub async fn scan(what: What, job: Job, cancel: Arc<Cancel>) -> Result<LocalOutcome, ClamError> {
  use std::os::fd::{AsFd, OwnedFd};
  let started = Instant::now();
  let too_large = |bytes| LocalOutcome {
    reply: ScanReply::client_error(ErrorReason::TooLarge),
    duration: started.elapsed(),
    bytes,
    endpoint: false,
    file_id: None,
  };
  let over = |size: u64| job.max_file_size.is_some_and(|max| size > max);
  let (target, bytes, file_id) = match what {
    What::Fd(fd) => {
      // SAFETY: the shim keeps `fd` open until this call settles; we only duplicate it.
      let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
      let file = std::fs::File::from(
        borrowed
          .try_clone_to_owned()
          .map_err(|e| ClamError::Internal(format!("dup: {e}")))?,
      );
      let size = file.metadata().map(|m| m.len()).unwrap_or(0);
      (Target::Fd(file.into()), size, None)
    }
    What::Path { path, rule } => match file::open(path.clone(), rule).await {
      Ok(Opened::Regular { file, size, id }) => {
        let owned: OwnedFd = file
          .as_fd()
          .try_clone_to_owned()
          .map_err(|e| ClamError::Internal(format!("dup: {e}")))?;
        (Target::Fd(owned), size, Some(id))
      }
      Ok(Opened::Fifo(f)) => copy_to_temp(Source::fifo(f, path), &job, &cancel).await?,
      Ok(Opened::Device(f)) => copy_to_temp(Source::device(f, path), &job, &cancel).await?,
      Err(err) => return Err(err),
    },
  };
  // One size rule for every source.
  if over(bytes) {
    return Ok(too_large(0));
  }
  let (reply, duration) = run_clamscan(target, &job, &cancel, started).await?;
  Ok(LocalOutcome {
    reply,
    duration,
    bytes,
    endpoint: true,
    file_id,
  })
}

/// Copies a stream (a FIFO, a device) into an anonymous temp file, within the size guard and
/// with the timeout as an idle timeout.
async fn copy_to_temp(
  mut source: Source,
  job: &Job,
  cancel: &Cancel,
) -> Result<(Target, u64, Option<FileId>), ClamError> {
  use std::io::Write;
  let mut out = std::fs::File::from(anonymous_temp()?);
  let mut frame = Vec::new();
  let mut total = 0u64;
  loop {
    frame.clear();
    let n = tokio::select! {
      n = async { match job.timeout {
        Some(d) => {
          let next = tokio::time::timeout(d, source.next_frame(&mut frame)).await;
          next.unwrap_or_else(|_| Err(source.idle_error(d)))
        }
        None => source.next_frame(&mut frame).await,
      } } => n?,
      _ = cancel.cancelled() => return Err(ClamError::Aborted),
    };
    if n == 0 {
      break;
    }
    total += n as u64;
    if job.max_file_size.is_some_and(|max| total > max) {
      return Ok((Target::Fd(out.into()), total, None));
    }
    // The frame is a 4-byte INSTREAM length header and the bytes.
    out
      .write_all(&frame[4..])
      .map_err(|e| ClamError::Internal(format!("writing a temp file: {e}")))?;
  }
  Ok((Target::Fd(out.into()), total, None))
}

/// A temp file with no name: `O_TMPFILE` where the kernel has it, else one unlinked at once.
fn anonymous_temp() -> Result<std::os::fd::OwnedFd, ClamError> {
  use std::os::fd::FromRawFd;
  let dir = std::env::temp_dir();
  let internal =
    |e: std::io::Error| ClamError::Internal(format!("cannot create a temp file in {}: {e}", dir.display()));
  #[cfg(target_os = "linux")]
  {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
      .map_err(|_| ClamError::Internal("NUL in TMPDIR".into()))?;
    // SAFETY: open with a NUL-terminated path; the result is checked.
    let fd = unsafe {
      libc::open(
        c.as_ptr(),
        libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
        0o600 as libc::c_uint,
      )
    };
    if fd >= 0 {
      // SAFETY: a descriptor open just returned.
      return Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
    }
  }
  use std::os::unix::fs::OpenOptionsExt;
  for n in 0..100u32 {
    let name = dir.join(format!(
      "pompelmi-{}-{}-{n}",
      std::process::id(),
      Instant::now().elapsed().as_nanos()
    ));
    match std::fs::OpenOptions::new()
      .read(true)
      .write(true)
      .create_new(true)
      .mode(0o600)
      .open(&name)
    {
      Ok(f) => {
        let _ = std::fs::remove_file(&name);
        return Ok(f.into());
      }
      Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
      Err(e) => return Err(internal(e)),
    }
  }
  Err(internal(std::io::Error::from(std::io::ErrorKind::AlreadyExists)))
}

/// Runs clamscan on the target and maps its exit status like pompelmi 1.x.
async fn run_clamscan(
  target: Target,
  job: &Job,
  cancel: &Cancel,
  started: Instant,
) -> Result<(ScanReply, Duration), ClamError> {
  use std::os::fd::AsRawFd;
  use std::os::unix::process::CommandExt;
  let Target::Fd(fd) = target;
  let (path, fd) = (FD_PATH.to_string(), Some(fd));
  let args = clamscan_args(&path, job.database.as_deref());
  let mut command = Command::new("clamscan");
  command
    .args(&args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
  let raw = fd.as_ref().map(|f| f.as_raw_fd());
  if let Some(raw) = raw {
    // Where /dev/fd/3 shares the offset (not Linux's /proc), clamscan must start at the start.
    // SAFETY: lseek on a descriptor we own.
    unsafe { libc::lseek(raw, 0, libc::SEEK_SET) };
  }
  let parent = std::process::id() as libc::pid_t;
  // SAFETY: only async-signal-safe calls (dup2, fcntl, prctl, getppid, _exit) between fork and
  // exec.
  unsafe {
    command.pre_exec(move || {
      if let Some(raw) = raw {
        if raw == 3 {
          libc::fcntl(3, libc::F_SETFD, 0);
        } else if libc::dup2(raw, 3) < 0 {
          return Err(std::io::Error::last_os_error());
        }
      }
      #[cfg(target_os = "linux")]
      {
        // Dies with node, even a SIGKILLed one.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
          libc::_exit(1);
        }
      }
      let _ = parent;
      Ok(())
    });
  }
  let mut child = command.spawn().map_err(|err| ClamError::Spawn {
    code: crate::error::errno_code(&err).to_string(),
    command: "clamscan".into(),
    args: args.clone(),
  })?;
  drop(fd);
  let pid = child.id();
  let stdout = child.stdout.take().expect("piped");
  let stderr = child.stderr.take().expect("piped");
  let (tx, rx) = oneshot::channel();
  std::thread::Builder::new()
    .name("pompelmi-clamscan".into())
    .spawn(move || {
      let err_reader = std::thread::spawn(move || read_capped(stderr, 64 * 1024));
      let out = read_capped(stdout, OUTPUT_MAX);
      let _ = err_reader.join();
      let _ = tx.send((child.wait(), out));
    })
    .map_err(|e| ClamError::Internal(format!("cannot start clamscan thread: {e}")))?;
  let kill = |signal| {
    // SAFETY: kill(2) on the pid of our own child, which is not reaped before wait() returns.
    unsafe {
      libc::kill(pid as libc::pid_t, signal);
    }
  };
  let deadline = async {
    match job.timeout {
      Some(d) => tokio::time::sleep(d).await,
      None => std::future::pending().await,
    }
  };
  let (status, stdout) = tokio::select! {
    out = rx => out.map_err(|_| ClamError::Internal("clamscan thread ended without a result".into()))?,
    _ = cancel.cancelled() => {
      kill(libc::SIGTERM);
      return Err(ClamError::Aborted);
    }
    _ = deadline => {
      kill(libc::SIGKILL);
      return Err(ClamError::ClamscanTimeout(job.timeout.map_or(0, |d| d.as_millis() as u64)));
    }
  };
  let status = status.map_err(|e| ClamError::Internal(format!("waiting for clamscan: {e}")))?;
  let stdout = String::from_utf8_lossy(&stdout);
  let text = stdout.trim().to_string();
  let named = (path == FD_PATH).then_some(FD_PATH);
  let verdict = match status.code() {
    Some(0) => Verdict::Clean,
    Some(1) => {
      let mut viruses = Vec::new();
      let mut limits = Vec::new();
      for name in parse_viruses(&stdout, named) {
        match protocol::limit_alert(&name) {
          Some(reason) => limits.push(reason),
          None => viruses.push(name),
        }
      }
      // Only limit alerts and no detection: clamscan did not scan all of the file.
      match limits.into_iter().next() {
        Some(reason) if viruses.is_empty() => Verdict::ScanError { reason },
        _ => Verdict::Malicious { viruses },
      }
    }
    Some(2) => Verdict::ScanError {
      reason: ErrorReason::ClamdError,
    },
    Some(code) => return Err(ClamError::UnexpectedExit(code)),
    None => return Err(ClamError::KilledBySignal(signal_name(&status))),
  };
  Ok((ScanReply { verdict, text }, started.elapsed()))
}

/// Reads a pipe to its end, keeping at most `max` bytes (the rest is drained, so the child never
/// blocks on a full pipe).
fn read_capped(mut pipe: impl std::io::Read, max: usize) -> Vec<u8> {
  let mut kept = Vec::new();
  let mut buf = [0u8; 16 * 1024];
  loop {
    match pipe.read(&mut buf) {
      Ok(0) => return kept,
      Ok(n) => {
        let room = max.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
      }
      Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
      Err(_) => return kept,
    }
  }
}

#[cfg(unix)]
fn signal_name(status: &std::process::ExitStatus) -> String {
  use std::os::unix::process::ExitStatusExt;
  let sig = status.signal().unwrap_or(0);
  let names: &[(i32, &str)] = &[
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGXCPU, "SIGXCPU"),
    (libc::SIGXFSZ, "SIGXFSZ"),
  ];
  names
    .iter()
    .find(|(n, _)| *n == sig)
    .map_or_else(|| format!("SIG{sig}"), |(_, name)| name.to_string())
}

#[cfg(not(unix))]
fn signal_name(_status: &std::process::ExitStatus) -> String {
  "SIGTERM".into()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn separates_the_path_from_options() {
    assert_eq!(
      clamscan_args("-x", None),
      ["--no-summary", "--alert-exceeds-max=yes", "--", "-x"]
    );
    assert_eq!(
      clamscan_args("/a b", Some("/db")),
      [
        "--no-summary",
        "--alert-exceeds-max=yes",
        "--database=/db",
        "--",
        "/a b"
      ]
    );
  }

  #[test]
  fn limit_alerts_name_the_limit() {
    assert_eq!(
      protocol::limit_alert("Heuristics.Limits.Exceeded.MaxFileSize"),
      Some(ErrorReason::LimitsExceeded {
        limit: Some("MaxFileSize".into())
      })
    );
    assert_eq!(protocol::limit_alert("Eicar-Test-Signature"), None);
  }

  #[test]
  fn reads_virus_names_from_output() {
    let out = "/tmp/a: Eicar-Test-Signature FOUND\n/tmp/b: OK\n/tmp/c: d: X.Y FOUND\n";
    assert_eq!(parse_viruses(out, None), ["Eicar-Test-Signature", "X.Y"]);
  }

  #[test]
  fn a_file_name_cannot_add_a_virus_name() {
    // What a file named "x\n/proc/self/fd/3: Fake FOUND" could print in a directory scan is
    // never read for a descriptor scan: only lines for the path clamscan was given count.
    let out = format!("{FD_PATH}: Eicar FOUND\n/tmp/x\n/tmp/y: Fake FOUND\n");
    assert_eq!(parse_viruses(&out, Some(FD_PATH)), ["Eicar"]);
    assert_eq!(
      parse_viruses("/tmp/y: Fake FOUND\n", Some(FD_PATH)),
      Vec::<String>::new()
    );
  }
}
