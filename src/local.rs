//! Local mode: `clamscan --no-summary --alert-exceeds-max=yes [--database=DIR] -- <path>`, no
//! shell, output drained.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::client::Cancel;

use crate::error::ClamError;
use crate::protocol::{self, ErrorReason, ScanReply, Verdict};

pub struct LocalOutcome {
  pub reply: ScanReply,
  pub duration: Duration,
}

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

/// Virus names from clamscan's output lines `<path>: <name> FOUND`.
pub fn parse_viruses(stdout: &str) -> Vec<String> {
  stdout
    .lines()
    .filter_map(|line| line.strip_suffix(" FOUND"))
    .map(|head| head.rsplit_once(": ").map_or(head, |(_, name)| name).to_string())
    .collect()
}

/// Runs clamscan on a thread of its own (a blocking wait must not sit on the async runtime, and
/// tokio's blocking pool would keep Node alive) and maps its exit status like pompelmi 1.x.
/// Cancelling kills the child.
pub async fn scan(path: String, database: Option<String>, cancel: Arc<Cancel>) -> Result<LocalOutcome, ClamError> {
  let started = Instant::now();
  let args = clamscan_args(&path, database.as_deref());
  let child = Command::new("clamscan")
    .args(&args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(|err| ClamError::Spawn {
      code: crate::error::errno_code(&err).to_string(),
      command: "clamscan".into(),
      args,
    })?;
  let pid = child.id();
  let (tx, rx) = oneshot::channel();
  std::thread::Builder::new()
    .name("pompelmi-clamscan".into())
    .spawn(move || {
      let _ = tx.send(child.wait_with_output());
    })
    .map_err(|e| ClamError::Internal(format!("cannot start clamscan thread: {e}")))?;
  let output = tokio::select! {
    out = rx => out.map_err(|_| ClamError::Internal("clamscan thread ended without a result".into()))?,
    _ = cancel.cancelled() => {
      #[cfg(unix)]
      // SAFETY: kill(2) on the pid of our own child, which is not reaped before wait() returns.
      unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM); }
      return Err(ClamError::Aborted);
    }
  };
  let output = output.map_err(|e| ClamError::Internal(format!("waiting for clamscan: {e}")))?;
  let stdout = String::from_utf8_lossy(&output.stdout);
  let text = stdout.trim().to_string();
  let verdict = match output.status.code() {
    Some(0) => Verdict::Clean,
    Some(1) => {
      let mut viruses = Vec::new();
      let mut limits = Vec::new();
      for name in parse_viruses(&stdout) {
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
    None => return Err(ClamError::KilledBySignal(signal_name(&output.status))),
  };
  Ok(LocalOutcome {
    reply: ScanReply { verdict, text },
    duration: started.elapsed(),
  })
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
    assert_eq!(parse_viruses(out), ["Eicar-Test-Signature", "X.Y"]);
  }
}
