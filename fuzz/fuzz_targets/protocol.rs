//! `cargo +nightly fuzz run protocol` (or `RUSTC_BOOTSTRAP=1 cargo fuzz run protocol` on
//! stable): the sans-IO protocol code must never panic, and never call anything Clean that is
//! not exactly a clean reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use clamd_protocol::{self as protocol, ReplyEvent, ReplyReader, RequestKind, Verdict};

fuzz_target!(|data: &[u8]| {
  // Reply classification, for both kinds of request.
  if protocol::classify(data, RequestKind::Instream).verdict == Verdict::Clean {
    assert_eq!(protocol::normalise(data), "stream: OK");
  }
  if protocol::classify(data, RequestKind::Fildes).verdict == Verdict::Clean {
    let text = protocol::normalise(data);
    assert!(text.starts_with("fd[") && text.ends_with("]: OK"), "{text:?}");
  }
  // Splitting arbitrary bytes into replies, fed in two pieces.
  let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
  let mut reader = ReplyReader::new();
  reader.push(&data[..cut]);
  while let Some(event) = reader.next_event() {
    if let ReplyEvent::Reply(raw) = event {
      let _ = protocol::split_session_reply(&raw);
    }
  }
  reader.push(&data[cut..]);
  while reader.next_event().is_some() {}
  let _ = reader.take_rest();
  // The encoder the client writes with round-trips for any payload, in any two pieces.
  assert_eq!(protocol::decode_instream(&protocol::instream_request(data)).as_deref(), Some(data));
  let mut out = Vec::new();
  protocol::instream_begin(&mut out);
  protocol::instream_chunk(&mut out, &data[..cut]);
  protocol::instream_chunk(&mut out, &data[cut..]);
  protocol::instream_end(&mut out);
  assert_eq!(protocol::decode_instream(&out).as_deref(), Some(data));
  let _ = protocol::decode_instream(data);
});
