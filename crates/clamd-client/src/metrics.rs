//! A client's scan counters: verdicts, ScanError reasons, failures, payload bytes and a latency
//! histogram. Atomics only: recording costs a few additions per scan.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::protocol::{ErrorReason, Verdict};

/// Upper bounds of the latency buckets, in milliseconds (a last bucket holds the rest).
pub const LATENCY_BOUNDS_MS: [f64; 13] = [
  1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];
/// The ScanError reasons, in the order of `Snapshot::reasons`.
pub const REASONS: [&str; 5] = [
  "size-limit",
  "too-large",
  "limits-exceeded",
  "clamd-error",
  "unexpected-reply",
];

#[derive(Default)]
pub struct ScanMetrics {
  clean: AtomicU64,
  malicious: AtomicU64,
  scan_error: AtomicU64,
  failed: AtomicU64,
  reasons: [AtomicU64; REASONS.len()],
  bytes: AtomicU64,
  buckets: [AtomicU64; LATENCY_BOUNDS_MS.len() + 1],
  latency_sum_us: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
  pub clean: u64,
  pub malicious: u64,
  pub scan_error: u64,
  /// Calls that rejected (no verdict): clamd down, timeouts, aborts, bad input.
  pub failed: u64,
  pub reasons: [u64; REASONS.len()],
  pub bytes: u64,
  /// Calls per latency bucket (not cumulative); the last is over every bound.
  pub buckets: [u64; LATENCY_BOUNDS_MS.len() + 1],
  pub latency_sum_ms: f64,
}

fn reason_index(reason: &ErrorReason) -> usize {
  match reason {
    ErrorReason::SizeLimit => 0,
    ErrorReason::TooLarge => 1,
    ErrorReason::LimitsExceeded { .. } => 2,
    ErrorReason::ClamdError => 3,
    ErrorReason::UnexpectedReply => 4,
  }
}

impl ScanMetrics {
  /// A scan that ended with a verdict: clamd received `bytes` and it took `elapsed`.
  pub fn verdict(&self, verdict: &Verdict, bytes: u64, elapsed: Duration) {
    match verdict {
      Verdict::Clean => self.clean.fetch_add(1, Ordering::Relaxed),
      Verdict::Malicious { .. } => self.malicious.fetch_add(1, Ordering::Relaxed),
      Verdict::ScanError { reason } => {
        self.reasons[reason_index(reason)].fetch_add(1, Ordering::Relaxed);
        self.scan_error.fetch_add(1, Ordering::Relaxed)
      }
    };
    self.bytes.fetch_add(bytes, Ordering::Relaxed);
    self.latency(elapsed);
  }

  /// A scan that rejected.
  pub fn failed(&self, elapsed: Duration) {
    self.failed.fetch_add(1, Ordering::Relaxed);
    self.latency(elapsed);
  }

  fn latency(&self, elapsed: Duration) {
    let ms = elapsed.as_secs_f64() * 1000.0;
    let bucket = LATENCY_BOUNDS_MS
      .iter()
      .position(|&b| ms <= b)
      .unwrap_or(LATENCY_BOUNDS_MS.len());
    self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    self
      .latency_sum_us
      .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
  }

  pub fn snapshot(&self) -> Snapshot {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Snapshot {
      clean: load(&self.clean),
      malicious: load(&self.malicious),
      scan_error: load(&self.scan_error),
      failed: load(&self.failed),
      reasons: std::array::from_fn(|i| load(&self.reasons[i])),
      bytes: load(&self.bytes),
      buckets: std::array::from_fn(|i| load(&self.buckets[i])),
      latency_sum_ms: load(&self.latency_sum_us) as f64 / 1000.0,
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn counts_verdicts_reasons_bytes_and_latency() {
    let m = ScanMetrics::default();
    m.verdict(&Verdict::Clean, 10, Duration::from_micros(500));
    m.verdict(
      &Verdict::Malicious {
        viruses: vec!["X".into()],
      },
      20,
      Duration::from_millis(3),
    );
    m.verdict(
      &Verdict::ScanError {
        reason: ErrorReason::TooLarge,
      },
      0,
      Duration::from_secs(20),
    );
    m.failed(Duration::from_millis(7));
    let s = m.snapshot();
    assert_eq!(
      (s.clean, s.malicious, s.scan_error, s.failed, s.bytes),
      (1, 1, 1, 1, 30)
    );
    assert_eq!(s.reasons, [0, 1, 0, 0, 0]);
    assert_eq!(s.buckets[0], 1); // ≤ 1 ms
    assert_eq!(s.buckets[2], 1); // ≤ 5 ms
    assert_eq!(s.buckets[3], 1); // ≤ 10 ms
    assert_eq!(s.buckets[LATENCY_BOUNDS_MS.len()], 1); // over 10 s
    assert!((s.latency_sum_ms - 20010.5).abs() < 0.01);
  }
}
