//! clamd's wire protocol, without any I/O: command framing, INSTREAM chunking, reply
//! splitting and reply classification. Everything here is a pure function or a small state
//! machine fed with bytes, so it is unit- and property-tested without a socket.

/// clamd has no per-chunk limit, but pompelmi 1.x and clamdjs use 64 KiB, which is a good
/// balance between syscalls and memory.
pub const CHUNK_MAX: usize = 64 * 1024;

/// The zero-length chunk that ends an INSTREAM upload.
pub const END_OF_STREAM: [u8; 4] = [0, 0, 0, 0];

/// A reply longer than this is never a verdict: clamd's longest real reply (STATS) is a few KiB.
pub const REPLY_MAX: usize = 64 * 1024;

/// A `z`-framed command: `z<NAME>\0`. clamd then terminates its replies with NUL too.
pub fn command(name: &str) -> Vec<u8> {
  let mut out = Vec::with_capacity(name.len() + 2);
  out.push(b'z');
  out.extend_from_slice(name.as_bytes());
  out.push(0);
  out
}

/// The 4-byte big-endian length that precedes each INSTREAM chunk.
pub fn chunk_header(len: usize) -> [u8; 4] {
  debug_assert!(len <= u32::MAX as usize);
  (len as u32).to_be_bytes()
}

/// The INSTREAM encoder the client writes with: `instream_begin`, then `instream_chunk` for each
/// piece of the payload (in whatever pieces it arrives), then `instream_end`. Everything is
/// appended to one buffer, so a caller can coalesce small uploads into one write.
pub fn instream_begin(out: &mut Vec<u8>) {
  out.extend_from_slice(b"zINSTREAM\0");
}

/// Appends `data` as INSTREAM chunks of at most `CHUNK_MAX` bytes each, behind their length.
/// Empty data appends nothing: a zero-length chunk would end the stream early.
pub fn instream_chunk(out: &mut Vec<u8>, data: &[u8]) {
  for chunk in data.chunks(CHUNK_MAX) {
    out.extend_from_slice(&chunk_header(chunk.len()));
    out.extend_from_slice(chunk);
  }
}

/// Appends the zero-length chunk that ends the upload.
pub fn instream_end(out: &mut Vec<u8>) {
  out.extend_from_slice(&END_OF_STREAM);
}

/// The complete INSTREAM request for an in-memory payload, through the same encoder.
pub fn instream_request(payload: &[u8]) -> Vec<u8> {
  let mut out = Vec::with_capacity(payload.len() + payload.len() / CHUNK_MAX * 4 + 18);
  instream_begin(&mut out);
  instream_chunk(&mut out, payload);
  instream_end(&mut out);
  out
}

/// Decodes an INSTREAM request back into its payload; `None` if it is malformed. This is what a
/// (fake) clamd does, and lets the tests check that framing round-trips.
pub fn decode_instream(request: &[u8]) -> Option<Vec<u8>> {
  let mut rest = request.strip_prefix(b"zINSTREAM\0")?;
  let mut payload = Vec::new();
  loop {
    if rest.len() < 4 {
      return None;
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    rest = &rest[4..];
    if len == 0 {
      return rest.is_empty().then_some(payload);
    }
    if rest.len() < len {
      return None;
    }
    payload.extend_from_slice(&rest[..len]);
    rest = &rest[len..];
  }
}

/// Collects reply bytes and cuts them into NUL-terminated replies, with a size cap.
#[derive(Debug, Default)]
pub struct ReplyReader {
  pending: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReplyEvent {
  /// One reply, without its terminating NUL.
  Reply(Vec<u8>),
  /// More than `REPLY_MAX` bytes arrived without a terminator.
  TooLong,
}

impl ReplyReader {
  pub fn new() -> Self {
    Self::default()
  }

  pub fn push(&mut self, bytes: &[u8]) {
    self.pending.extend_from_slice(bytes);
  }

  /// The next complete reply, if one has arrived.
  pub fn next_event(&mut self) -> Option<ReplyEvent> {
    if let Some(pos) = self.pending.iter().position(|&b| b == 0) {
      let reply = self.pending[..pos].to_vec();
      self.pending.drain(..=pos);
      if reply.len() > REPLY_MAX {
        return Some(ReplyEvent::TooLong);
      }
      return Some(ReplyEvent::Reply(reply));
    }
    if self.pending.len() > REPLY_MAX {
      self.pending.clear();
      return Some(ReplyEvent::TooLong);
    }
    None
  }

  /// What is left when the peer closes: an unterminated reply (clamd ends `COMMAND READ TIMED
  /// OUT` with a newline whatever the framing, and old clamd builds may omit the NUL).
  pub fn take_rest(&mut self) -> Option<Vec<u8>> {
    if self.pending.is_empty() {
      None
    } else {
      Some(std::mem::take(&mut self.pending))
    }
  }
}

/// Why a scan did not produce Clean or Malicious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorReason {
  /// `INSTREAM size limit exceeded. ERROR`: the upload is larger than clamd's StreamMaxLength.
  SizeLimit,
  /// The payload is larger than the client's `maxFileSize`: it was not sent (or not all of it),
  /// because clamd skips files over its `MaxFileSize` and then answers OK.
  TooLarge,
  /// `Heuristics.Limits.Exceeded.<Limit> FOUND` (clamd with `AlertExceedsMax yes`): clamd did
  /// not scan all of the payload. `limit` is the directive (`MaxFileSize`, `MaxScanSize`, …).
  LimitsExceeded { limit: Option<String> },
  /// Any other error clamd reports (`… ERROR`, `UNKNOWN COMMAND`, `COMMAND READ TIMED OUT`).
  ClamdError,
  /// A reply that is none of clamd's (garbage, empty, longer than `REPLY_MAX`, or the clean
  /// reply of another kind of request).
  UnexpectedReply,
}

impl ErrorReason {
  pub fn as_str(&self) -> &'static str {
    match self {
      ErrorReason::SizeLimit => "size-limit",
      ErrorReason::TooLarge => "too-large",
      ErrorReason::LimitsExceeded { .. } => "limits-exceeded",
      ErrorReason::ClamdError => "clamd-error",
      ErrorReason::UnexpectedReply => "unexpected-reply",
    }
  }

  /// The clamd limit that was exceeded, for `LimitsExceeded`.
  pub fn limit(&self) -> Option<&str> {
    match self {
      ErrorReason::LimitsExceeded { limit } => limit.as_deref(),
      _ => None,
    }
  }

  /// An error clamd itself reported (as opposed to a reply that is not clamd's).
  pub fn is_clamd_error(&self) -> bool {
    matches!(self, ErrorReason::SizeLimit | ErrorReason::ClamdError)
  }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
  Clean,
  Malicious { viruses: Vec<String> },
  ScanError { reason: ErrorReason },
}

/// A classified scan reply, with its normalised text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReply {
  pub verdict: Verdict,
  pub text: String,
}

impl ScanReply {
  /// A ScanError decided by the client (no reply text from clamd).
  pub fn client_error(reason: ErrorReason) -> Self {
    ScanReply {
      verdict: Verdict::ScanError { reason },
      text: String::new(),
    }
  }
}

/// What a scan request asked clamd for: each has its own clean reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
  /// `zINSTREAM`: clean is `stream: OK`.
  Instream,
  /// `zFILDES`: clean is `fd[N]: OK`.
  Fildes,
}

/// Normalises a raw reply as pompelmi 1.x does: NULs removed, surrounding whitespace trimmed.
pub fn normalise(raw: &[u8]) -> String {
  let without_nul: Vec<u8> = raw.iter().copied().filter(|&b| b != 0).collect();
  String::from_utf8_lossy(&without_nul).trim().to_string()
}

/// True only for the exact clean reply of this kind of request.
fn is_clean(text: &str, kind: RequestKind) -> bool {
  match kind {
    RequestKind::Instream => text == "stream: OK",
    RequestKind::Fildes => match text.strip_prefix("fd[").and_then(|t| t.strip_suffix("]: OK")) {
      Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
      None => false,
    },
  }
}

/// The signature clamd reports when `AlertExceedsMax` is on and a limit cut the scan short.
const LIMITS_EXCEEDED: &str = "Heuristics.Limits.Exceeded";

/// Classifies the reply to a request of `kind`. Only that kind's exact clean reply is Clean;
/// a limit alert (`Heuristics.Limits.Exceeded.*`) is a ScanError, because clamd did not scan
/// everything; anything else ending in ` FOUND` is Malicious (pompelmi 1.x compatible);
/// everything else is a ScanError with a reason.
pub fn classify(raw: &[u8], kind: RequestKind) -> ScanReply {
  let text = normalise(raw);
  let verdict = if is_clean(&text, kind) {
    Verdict::Clean
  } else if let Some(head) = text.strip_suffix(" FOUND") {
    // `stream: Eicar-Test-Signature FOUND` → `Eicar-Test-Signature`.
    let name = match head.find(": ") {
      Some(i) => &head[i + 2..],
      None => head,
    }
    .trim();
    match limit_alert(name) {
      Some(reason) => Verdict::ScanError { reason },
      None => Verdict::Malicious {
        viruses: vec![name.to_string()],
      },
    }
  } else if text.contains("size limit exceeded") {
    Verdict::ScanError {
      reason: ErrorReason::SizeLimit,
    }
  } else if text.ends_with("ERROR") || text == "UNKNOWN COMMAND" || text == "COMMAND READ TIMED OUT" {
    Verdict::ScanError {
      reason: ErrorReason::ClamdError,
    }
  } else {
    Verdict::ScanError {
      reason: ErrorReason::UnexpectedReply,
    }
  };
  ScanReply { verdict, text }
}

/// The ScanError reason for a limit alert's signature name (`Heuristics.Limits.Exceeded.X`), if
/// it is one; shared by clamd replies and clamscan's output.
pub fn limit_alert(name: &str) -> Option<ErrorReason> {
  let rest = name.strip_prefix(LIMITS_EXCEEDED)?;
  (rest.is_empty() || rest.starts_with('.')).then(|| ErrorReason::LimitsExceeded {
    limit: rest.strip_prefix('.').filter(|l| !l.is_empty()).map(str::to_string),
  })
}

/// Splits an IDSESSION reply `"<id>: <reply>"` into its request id and reply.
pub fn split_session_reply(raw: &[u8]) -> Option<(u64, &[u8])> {
  let colon = raw.iter().position(|&b| b == b':')?;
  let (digits, rest) = raw.split_at(colon);
  if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
    return None;
  }
  let id = std::str::from_utf8(digits).ok()?.parse().ok()?;
  let rest = rest[1..].strip_prefix(b" ").unwrap_or(&rest[1..]);
  Some((id, rest))
}

#[cfg(test)]
mod tests {
  use super::*;
  use proptest::prelude::*;

  #[test]
  fn frames_commands_with_z_and_nul() {
    assert_eq!(command("INSTREAM"), b"zINSTREAM\0");
    assert_eq!(command("PING"), b"zPING\0");
  }

  #[test]
  fn chunk_headers_are_big_endian() {
    assert_eq!(chunk_header(11), [0, 0, 0, 11]);
    assert_eq!(chunk_header(65536), [0, 1, 0, 0]);
  }

  #[test]
  fn instream_request_matches_pompelmi_wire_sequence() {
    let req = instream_request(b"hello world");
    assert_eq!(req, b"zINSTREAM\0\0\0\0\x0bhello world\0\0\0\0");
  }

  #[test]
  fn empty_payload_sends_only_command_and_terminator() {
    assert_eq!(instream_request(b""), b"zINSTREAM\0\0\0\0\0");
  }

  #[test]
  fn payloads_are_cut_into_64k_chunks() {
    let payload = vec![7u8; CHUNK_MAX * 2 + 5];
    let mut out = Vec::new();
    instream_chunk(&mut out, &payload);
    assert_eq!(chunk_lengths(&out), vec![CHUNK_MAX, CHUNK_MAX, 5]);
    let mut none = Vec::new();
    instream_chunk(&mut none, b"");
    assert!(none.is_empty(), "an empty piece is no chunk (it would end the stream)");
  }

  /// The lengths of the chunks in an encoded run of chunks.
  fn chunk_lengths(mut frames: &[u8]) -> Vec<usize> {
    let mut lens = Vec::new();
    while frames.len() >= 4 {
      let len = u32::from_be_bytes([frames[0], frames[1], frames[2], frames[3]]) as usize;
      lens.push(len);
      frames = &frames[4 + len..];
    }
    lens
  }

  use RequestKind::{Fildes, Instream};

  fn scan_error(reason: ErrorReason) -> Verdict {
    Verdict::ScanError { reason }
  }

  #[test]
  fn classifies_clamd_replies() {
    assert_eq!(classify(b"stream: OK\0", Instream).verdict, Verdict::Clean);
    assert_eq!(classify(b"stream: OK", Instream).verdict, Verdict::Clean);
    assert_eq!(classify(b"  stream: OK \n", Instream).verdict, Verdict::Clean);
    assert_eq!(classify(b"fd[10]: OK\0", Fildes).verdict, Verdict::Clean);
    assert_eq!(
      classify(b"stream: Eicar-Test-Signature FOUND\0", Instream).verdict,
      Verdict::Malicious {
        viruses: vec!["Eicar-Test-Signature".into()]
      }
    );
    assert_eq!(
      classify(b"INSTREAM size limit exceeded. ERROR\0", Instream).verdict,
      scan_error(ErrorReason::SizeLimit)
    );
    assert_eq!(
      classify(b"stream: Can't create temporary file ERROR", Instream).verdict,
      scan_error(ErrorReason::ClamdError)
    );
    assert_eq!(
      classify(b"UNKNOWN COMMAND", Instream).verdict,
      scan_error(ErrorReason::ClamdError)
    );
    for garbage in [
      &b""[..],
      b"\0\0",
      b"stream: OKAY",
      b"OK",
      b"stream: ok",
      b"fd[]: OK",
      b"PONG",
    ] {
      assert_eq!(
        classify(garbage, Instream).verdict,
        scan_error(ErrorReason::UnexpectedReply),
        "{garbage:?}"
      );
    }
  }

  #[test]
  fn a_clean_reply_must_fit_its_request() {
    assert_eq!(
      classify(b"fd[3]: OK", Instream).verdict,
      scan_error(ErrorReason::UnexpectedReply)
    );
    assert_eq!(
      classify(b"stream: OK", Fildes).verdict,
      scan_error(ErrorReason::UnexpectedReply)
    );
  }

  #[test]
  fn limit_alerts_are_scan_errors_naming_the_limit() {
    for (raw, limit) in [
      (
        &b"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND"[..],
        Some("MaxFileSize"),
      ),
      (
        b"fd[12]: Heuristics.Limits.Exceeded.MaxScanSize FOUND",
        Some("MaxScanSize"),
      ),
      (
        b"stream: Heuristics.Limits.Exceeded.MaxRecursion FOUND",
        Some("MaxRecursion"),
      ),
      (b"stream: Heuristics.Limits.Exceeded FOUND", None),
    ] {
      let reply = classify(raw, Instream);
      assert_eq!(
        reply.verdict,
        scan_error(ErrorReason::LimitsExceeded {
          limit: limit.map(str::to_string)
        }),
        "{raw:?}"
      );
      let Verdict::ScanError { reason } = reply.verdict else {
        unreachable!()
      };
      assert_eq!(reason.as_str(), "limits-exceeded");
      assert_eq!(reason.limit(), limit);
    }
    // Other heuristics stay detections.
    for name in [
      "Heuristics.Encrypted.Zip",
      "Heuristics.Broken.Executable",
      "Heuristics.Phishing.Email.SpoofedDomain",
      "Heuristics.Limits.ExceededSomething",
    ] {
      let raw = format!("stream: {name} FOUND");
      assert_eq!(
        classify(raw.as_bytes(), Instream).verdict,
        Verdict::Malicious {
          viruses: vec![name.into()]
        }
      );
    }
  }

  #[test]
  fn reply_reader_splits_on_nul_and_caps_length() {
    let mut r = ReplyReader::new();
    r.push(b"1: stream: OK\x002: stre");
    assert_eq!(r.next_event(), Some(ReplyEvent::Reply(b"1: stream: OK".to_vec())));
    assert_eq!(r.next_event(), None);
    r.push(b"am: OK\0");
    assert_eq!(r.next_event(), Some(ReplyEvent::Reply(b"2: stream: OK".to_vec())));
    r.push(&vec![b'a'; REPLY_MAX + 1]);
    assert_eq!(r.next_event(), Some(ReplyEvent::TooLong));
    r.push(b"COMMAND READ TIMED OUT\n");
    assert_eq!(r.next_event(), None);
    assert_eq!(r.take_rest(), Some(b"COMMAND READ TIMED OUT\n".to_vec()));
  }

  #[test]
  fn splits_session_replies() {
    assert_eq!(split_session_reply(b"12: stream: OK"), Some((12, &b"stream: OK"[..])));
    assert_eq!(split_session_reply(b"stream: OK"), None);
    assert_eq!(split_session_reply(b": OK"), None);
    assert_eq!(split_session_reply(b"99999999999999999999: OK"), None);
  }

  proptest! {
    #[test]
    fn any_reply_classifies_without_panicking(raw in proptest::collection::vec(any::<u8>(), 0..256)) {
      for kind in [Instream, Fildes] {
        let reply = classify(&raw, kind);
        if reply.verdict == Verdict::Clean {
          prop_assert!(is_clean(&normalise(&raw), kind));
        }
      }
    }

    #[test]
    fn only_exact_clean_replies_are_clean(prefix in ".{0,8}", suffix in ".{0,8}") {
      let text = format!("{prefix}stream: OK{suffix}");
      let clean = classify(text.as_bytes(), Instream).verdict == Verdict::Clean;
      let trimmed = text.replace('\0', "");
      prop_assert_eq!(clean, trimmed.trim() == "stream: OK");
    }

    #[test]
    fn framing_round_trips(payload in proptest::collection::vec(any::<u8>(), 0..200_000)) {
      let req = instream_request(&payload);
      prop_assert_eq!(decode_instream(&req), Some(payload.clone()));
      for len in chunk_lengths(&req[10..]) {
        prop_assert!(len <= CHUNK_MAX);
      }
    }

    /// What the client does: the payload in arbitrary pieces, each through `instream_chunk`.
    #[test]
    fn framing_round_trips_in_any_pieces(payload in proptest::collection::vec(any::<u8>(), 0..300_000), cuts in proptest::collection::vec(0usize..300_000, 0..8)) {
      let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(payload.len())).collect();
      cuts.sort_unstable();
      let mut out = Vec::new();
      instream_begin(&mut out);
      let mut start = 0;
      for cut in cuts.into_iter().chain([payload.len()]) {
        instream_chunk(&mut out, &payload[start..cut]);
        start = cut;
      }
      instream_end(&mut out);
      prop_assert_eq!(decode_instream(&out), Some(payload.clone()));
    }

    #[test]
    fn reply_reader_reassembles_any_split(reply in "[ -~]{0,100}", cut in 0usize..101) {
      let mut bytes = reply.clone().into_bytes();
      bytes.push(0);
      let cut = cut.min(bytes.len());
      let mut r = ReplyReader::new();
      r.push(&bytes[..cut]);
      let first = r.next_event();
      r.push(&bytes[cut..]);
      let event = first.or_else(|| r.next_event());
      prop_assert_eq!(event, Some(ReplyEvent::Reply(reply.into_bytes())));
    }
  }
}
