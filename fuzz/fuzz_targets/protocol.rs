//! `cargo +nightly fuzz run protocol` (or `RUSTC_BOOTSTRAP=1 cargo fuzz run protocol` on
//! stable): the sans-IO protocol code must never panic, and never call anything Clean that is
//! not exactly a clean reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pompelmi::protocol::{self, ReplyEvent, ReplyReader, Verdict};

fuzz_target!(|data: &[u8]| {
  // Reply classification.
  let reply = protocol::classify(data);
  if reply.verdict == Verdict::Clean {
    let text = protocol::normalise(data);
    assert!(text == "stream: OK" || (text.starts_with("fd[") && text.ends_with("]: OK")), "{text:?}");
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
  // Framing round-trips for any payload.
  assert_eq!(protocol::decode_instream(&protocol::instream_request(data)).as_deref(), Some(data));
  let _ = protocol::decode_instream(data);
});
