//! The client without Node: sessions, pipelining, replay, failover, aborts and timeouts against
//! an in-process fake clamd (a tokio TCP listener that speaks just enough of the protocol).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clamd_client::cancel::Cancel;
use clamd_client::client::{CallOptions, Client, ClientConfig, Payload};
use clamd_client::discovery::ResolverSpec;
use clamd_client::error::ClamError;
use clamd_client::protocol::Verdict;
use clamd_client::reply_watch::{ReplySink, ReplyWatcher};
use clamd_client::transport::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// How the fake answers each connection.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
  /// Like clamd: every INSTREAM answered, EICAR found.
  Clamd,
  /// Accepts, reads, never answers.
  Silent,
  /// Closes each connection right after accepting it.
  Slam,
  /// Answers a session's requests in reverse order, once two are pending.
  Reversed,
  /// Like clamd, after reading nothing for its first 300 ms: the client's writes back up.
  Sluggish,
}

struct Fake {
  endpoint: Endpoint,
  connections: Arc<AtomicUsize>,
}

/// Starts a fake; the first `slam_first` connections are closed at once, then `mode` applies.
async fn fake(mode: Mode, slam_first: usize) -> Fake {
  let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
  let port = listener.local_addr().unwrap().port();
  let connections = Arc::new(AtomicUsize::new(0));
  let count = connections.clone();
  tokio::spawn(async move {
    loop {
      let Ok((socket, _)) = listener.accept().await else {
        return;
      };
      let n = count.fetch_add(1, Ordering::SeqCst);
      let mode = if n < slam_first { Mode::Slam } else { mode };
      tokio::spawn(serve(socket, mode));
    }
  });
  Fake {
    endpoint: Endpoint::Tcp {
      host: "127.0.0.1".into(),
      port,
    },
    connections,
  }
}

/// Reads requests (`zIDSESSION\0`, `zINSTREAM\0` + chunks, `zPING\0`, `zEND\0`) and answers them.
async fn serve(mut socket: TcpStream, mode: Mode) {
  if mode == Mode::Slam {
    return;
  }
  if mode == Mode::Sluggish {
    tokio::time::sleep(Duration::from_millis(300)).await;
  }
  let mut buf = Vec::new();
  let mut session = false;
  let mut id = 0u64;
  let mut held: Vec<(u64, String)> = Vec::new();
  let mut chunk = [0u8; 65536];
  loop {
    // Parse every complete request in the buffer.
    loop {
      if buf.starts_with(b"zIDSESSION\0") {
        session = true;
        buf.drain(..11);
      } else if buf.starts_with(b"zEND\0") {
        return;
      } else if buf.starts_with(b"zPING\0") {
        buf.drain(..6);
        let _ = socket.write_all(b"PONG\0").await;
      } else if buf.starts_with(b"zINSTREAM\0") {
        let mut pos = 10;
        let mut payload = Vec::new();
        let complete = loop {
          if buf.len() < pos + 4 {
            break false;
          }
          let len = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
          if len == 0 {
            break true;
          }
          if buf.len() < pos + 4 + len {
            break false;
          }
          payload.extend_from_slice(&buf[pos + 4..pos + 4 + len]);
          pos += 4 + len;
        };
        if !complete {
          break;
        }
        buf.drain(..pos + 4);
        id += 1;
        let verdict = if payload.windows(EICAR.len()).any(|w| w == EICAR) {
          "stream: Eicar-Test-Signature FOUND"
        } else {
          "stream: OK"
        };
        match mode {
          Mode::Silent => {}
          Mode::Reversed if session => {
            held.push((id, verdict.to_string()));
            if held.len() == 2 {
              for (rid, text) in held.drain(..).rev() {
                let _ = socket.write_all(format!("{rid}: {text}\0").as_bytes()).await;
              }
            }
          }
          _ => {
            let reply = if session {
              format!("{id}: {verdict}\0")
            } else {
              format!("{verdict}\0")
            };
            let _ = socket.write_all(reply.as_bytes()).await;
            if !session {
              return;
            }
          }
        }
      } else {
        break;
      }
    }
    match socket.read(&mut chunk).await {
      Ok(0) | Err(_) => return,
      Ok(n) => buf.extend_from_slice(&chunk[..n]),
    }
  }
}

fn config(endpoints: Vec<Endpoint>) -> ClientConfig {
  ClientConfig {
    endpoints,
    idle_timeout: Some(Duration::from_secs(5)),
    connect_timeout: Some(Duration::from_secs(2)),
    queue_timeout: Some(Duration::from_secs(5)),
    retries: 0,
    retry_delay: Duration::from_millis(50),
    max_connections: 2,
    fdpass: false,
    max_file_size: None,
    max_connection_age: None,
    discover: vec![],
    discover_srv: vec![],
    resolver: ResolverSpec::System,
    discover_interval: Duration::from_secs(30),
  }
}

fn buffer(bytes: &[u8]) -> Payload {
  Payload::Buffer(Arc::new(bytes.to_vec()))
}

/// A client of one session on `endpoint`, so that every request shares that connection.
fn one_session(endpoint: &Endpoint) -> Arc<Client> {
  let mut cfg = config(vec![endpoint.clone()]);
  cfg.max_connections = 1;
  Arc::new(Client::new(cfg))
}

async fn verdict(client: &Client, bytes: &[u8]) -> Result<Verdict, ClamError> {
  client
    .scan(buffer(bytes), &CallOptions::default())
    .await
    .map(|o| o.reply.verdict)
    .map_err(|e| e.error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_pipelines_requests_and_matches_replies_out_of_order() {
  let server = fake(Mode::Reversed, 0).await;
  let client = one_session(&server.endpoint);
  let (a, b) = tokio::join!(verdict(&client, EICAR), verdict(&client, b"clean bytes"));
  assert!(matches!(a.unwrap(), Verdict::Malicious { viruses } if viruses == ["Eicar-Test-Signature"]));
  assert_eq!(b.unwrap(), Verdict::Clean);
  assert_eq!(server.connections.load(Ordering::SeqCst), 1, "both on one session");
  client.close().await;
}

/// Starts a buffer scan on the direct path; `None` when the call had to take `scan`'s way.
fn direct(
  client: &Arc<Client>,
  bytes: &[u8],
) -> Option<tokio::sync::oneshot::Receiver<Result<clamd_client::client::ScanOutcome, ClamError>>> {
  let (tx, rx) = tokio::sync::oneshot::channel();
  let done = Box::new(move |r: Result<_, clamd_client::client::CallError>| {
    let _ = tx.send(r.map_err(|e| e.error));
  });
  let payload: clamd_client::source::SharedBytes = Arc::new(bytes.to_vec());
  match client.scan_direct(payload, CallOptions::default(), done) {
    None => Some(rx),
    Some(_) => None,
  }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_scans_share_sessions_and_a_failed_first_attempt_goes_on_as_a_scan() {
  // The first session is closed at once: its request is replayed on a new one, a second attempt.
  let slammed = fake(Mode::Clamd, 1).await;
  let client = Arc::new(Client::new(config(vec![slammed.endpoint.clone()])));
  let first = direct(&client, EICAR)
    .expect("a free slot: the direct path")
    .await
    .unwrap()
    .unwrap();
  assert!(matches!(first.reply.verdict, Verdict::Malicious { .. }));
  assert_eq!(first.attempts, 2);
  assert_eq!(slammed.connections.load(Ordering::SeqCst), 2);
  client.close().await;
  let server = fake(Mode::Reversed, 0).await;
  let client = one_session(&server.endpoint);
  // A burst started at once, answered out of order on one session: each gets its own verdict.
  let burst: Vec<_> = (0..8)
    .map(|i| {
      let bytes: &[u8] = if i % 2 == 0 { EICAR } else { b"clean bytes" };
      direct(&client, bytes).expect("a free slot: the direct path")
    })
    .collect();
  for (i, rx) in burst.into_iter().enumerate() {
    let outcome = rx.await.unwrap().unwrap();
    assert_eq!(outcome.attempts, 1);
    match outcome.reply.verdict {
      Verdict::Malicious { .. } => assert_eq!(i % 2, 0, "request {i}"),
      Verdict::Clean => assert_eq!(i % 2, 1, "request {i}"),
      other => panic!("request {i}: {other:?}"),
    }
  }
  assert_eq!(server.connections.load(Ordering::SeqCst), 1, "one session");
  client.close().await;
  // Every slot taken (a peer that never answers): the next call must take scan()'s way, where it
  // may wait for a slot.
  let silent = fake(Mode::Silent, 0).await;
  let client = one_session(&silent.endpoint);
  let busy: Vec<_> = (0..8).map(|_| direct(&client, b"x").expect("a free slot")).collect();
  assert!(direct(&client, b"x").is_none(), "no free slot: not direct");
  client.close().await;
  for rx in busy {
    let err = rx.await.unwrap().unwrap_err();
    assert!(matches!(err, ClamError::Closed), "{err:?}");
  }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_scans_the_socket_cannot_take_at_once_are_finished_by_the_writer() {
  // Eight 64 KiB requests written from this thread while the peer reads nothing: the socket takes
  // part, the writer task writes the rest once the peer reads, and every reply still matches.
  let server = fake(Mode::Sluggish, 0).await;
  let client = one_session(&server.endpoint);
  // The session opens (and the peer starts reading late) with a first, small scan.
  let first = direct(&client, b"x").expect("the direct path");
  first.await.unwrap().unwrap();
  let calls: Vec<_> = (0..8u8)
    .map(|i| {
      let mut payload = vec![i; 64 * 1024];
      if i % 3 == 0 {
        payload[1000..1000 + EICAR.len()].copy_from_slice(EICAR);
      }
      (i, direct(&client, &payload).expect("a free slot: the direct path"))
    })
    .collect();
  for (i, rx) in calls {
    let outcome = tokio::time::timeout(Duration::from_secs(10), rx)
      .await
      .expect("answered")
      .unwrap()
      .unwrap();
    assert_eq!(outcome.bytes, 64 * 1024);
    assert_eq!(
      matches!(outcome.reply.verdict, Verdict::Malicious { .. }),
      i % 3 == 0,
      "request {i}: {:?}",
      outcome.reply.verdict
    );
  }
  assert_eq!(server.connections.load(Ordering::SeqCst), 1);
  client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_closed_right_after_accept_is_replayed_once() {
  let server = fake(Mode::Clamd, 1).await;
  let client = Client::new(config(vec![server.endpoint.clone()]));
  assert!(matches!(
    verdict(&client, EICAR).await.unwrap(),
    Verdict::Malicious { .. }
  ));
  assert_eq!(server.connections.load(Ordering::SeqCst), 2);
  // Every session closed at once: the one replay is spent (a close seen before the request was
  // written sends it again, a bounded number of times), then the call rejects, never loops.
  let slammer = fake(Mode::Slam, 0).await;
  let client = Client::new(config(vec![slammer.endpoint.clone()]));
  let err = verdict(&client, EICAR).await.unwrap_err();
  assert!(err.breaks_session() || err.is_retryable(), "{err:?}");
  let tries = slammer.connections.load(Ordering::SeqCst);
  assert!((2..=18).contains(&tries), "{tries} connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_endpoint_fails_over_at_once_and_is_then_skipped() {
  // Port 1: nothing listens there, and (below the ephemeral range) no test's socket or
  // connection can be given it meanwhile.
  let dead = Endpoint::Tcp {
    host: "127.0.0.1".into(),
    port: 1,
  };
  let server = fake(Mode::Clamd, 0).await;
  let client = Client::new(config(vec![dead.clone(), server.endpoint.clone()]));
  for _ in 0..6 {
    assert!(matches!(
      verdict(&client, EICAR).await.unwrap(),
      Verdict::Malicious { .. }
    ));
  }
  // Alone and down: calls are answered at once with why it went down.
  let alone = Client::new(config(vec![dead]));
  let first = verdict(&alone, b"x").await.unwrap_err();
  assert_eq!(first.code(), "ECONNREFUSED");
  let started = Instant::now();
  for _ in 0..5 {
    assert_eq!(verdict(&alone, b"x").await.unwrap_err().code(), "ECONNREFUSED");
  }
  assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_clamd_times_out_and_queued_calls_hit_their_queue_deadline() {
  let server = fake(Mode::Silent, 0).await;
  let mut cfg = config(vec![server.endpoint.clone()]);
  cfg.idle_timeout = Some(Duration::from_millis(200));
  cfg.queue_timeout = Some(Duration::from_millis(200));
  cfg.max_connections = 1;
  let client = Arc::new(Client::new(cfg));
  let started = Instant::now();
  let calls: Vec<_> = (0..40)
    .map(|_| {
      let c = client.clone();
      tokio::spawn(async move { verdict(&c, b"x").await })
    })
    .collect();
  let mut codes = Vec::new();
  for call in calls {
    codes.push(call.await.unwrap().unwrap_err().code().to_string());
  }
  assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
  assert!(codes.iter().any(|c| c == "ETIMEDOUT"), "{codes:?}");
  assert!(codes.iter().any(|c| c == "ERR_CLAMD_QUEUE_TIMEOUT"), "{codes:?}");
  assert!(
    codes.iter().all(|c| c == "ETIMEDOUT" || c == "ERR_CLAMD_QUEUE_TIMEOUT"),
    "{codes:?}"
  );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_settles_at_once_and_the_client_keeps_working() {
  let server = fake(Mode::Silent, 0).await;
  let client = Arc::new(Client::new(config(vec![server.endpoint.clone()])));
  let cancel = Arc::new(Cancel::default());
  let call = {
    let client = client.clone();
    let cancel = cancel.clone();
    tokio::spawn(async move {
      let opts = CallOptions { timeout: None, cancel };
      client.scan(buffer(b"x"), &opts).await
    })
  };
  tokio::time::sleep(Duration::from_millis(100)).await;
  let started = Instant::now();
  cancel.cancel();
  let err = call.await.unwrap().unwrap_err();
  assert!(matches!(err.error, ClamError::Aborted));
  assert!(started.elapsed() < Duration::from_millis(100));
  let good = fake(Mode::Clamd, 0).await;
  let other = Client::new(config(vec![good.endpoint]));
  assert_eq!(verdict(&other, b"fine").await.unwrap(), Verdict::Clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_rejects_calls_in_flight_and_later_ones() {
  let server = fake(Mode::Silent, 0).await;
  let client = Arc::new(Client::new(config(vec![server.endpoint.clone()])));
  let pending = {
    let c = client.clone();
    tokio::spawn(async move { verdict(&c, b"x").await })
  };
  tokio::time::sleep(Duration::from_millis(100)).await;
  client.close().await;
  assert!(pending.await.unwrap().is_err());
  assert!(matches!(verdict(&client, b"x").await.unwrap_err(), ClamError::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_needs_exactly_pong() {
  let server = fake(Mode::Clamd, 0).await;
  let client = Client::new(config(vec![server.endpoint.clone()]));
  assert_eq!(client.command("PING").await.unwrap().0, "PONG");
  let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
  let port = http.local_addr().unwrap().port();
  tokio::spawn(async move {
    while let Ok((mut s, _)) = http.accept().await {
      // Reads the request first: closing with unread bytes would reset the connection.
      let mut request = [0u8; 64];
      let _ = s.read(&mut request).await;
      let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
      let _ = s.shutdown().await;
      let _ = s.read(&mut request).await;
    }
  });
  let not_clamd = Client::new(config(vec![Endpoint::Tcp {
    host: "127.0.0.1".into(),
    port,
  }]));
  let err = not_clamd.command("PING").await.unwrap_err().error;
  assert!(
    matches!(err, ClamError::Protocol(ref m) if m.starts_with("not clamd")),
    "{err:?}"
  );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_older_than_max_connection_age_takes_no_new_request() {
  let server = fake(Mode::Clamd, 0).await;
  let mut cfg = config(vec![server.endpoint.clone()]);
  cfg.max_connection_age = Some(Duration::from_millis(100));
  let client = Client::new(cfg);
  assert_eq!(verdict(&client, b"one").await.unwrap(), Verdict::Clean);
  assert_eq!(verdict(&client, b"two").await.unwrap(), Verdict::Clean);
  assert_eq!(server.connections.load(Ordering::SeqCst), 1, "young: reused");
  tokio::time::sleep(Duration::from_millis(150)).await;
  assert!(matches!(
    verdict(&client, EICAR).await.unwrap(),
    Verdict::Malicious { .. }
  ));
  assert_eq!(server.connections.load(Ordering::SeqCst), 2, "old: a new session");
  client.close().await;
  // Without an age limit the session stays.
  let server = fake(Mode::Clamd, 0).await;
  let client = Client::new(config(vec![server.endpoint.clone()]));
  assert_eq!(verdict(&client, b"one").await.unwrap(), Verdict::Clean);
  tokio::time::sleep(Duration::from_millis(150)).await;
  assert_eq!(verdict(&client, b"two").await.unwrap(), Verdict::Clean);
  assert_eq!(server.connections.load(Ordering::SeqCst), 1);
  client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_follow_the_scans_policy_failover_and_one_mark_down() {
  let dead = Endpoint::Tcp {
    host: "127.0.0.1".into(),
    port: 1,
  };
  let server = fake(Mode::Clamd, 0).await;
  let client = Client::new(config(vec![dead.clone(), server.endpoint.clone()]));
  for _ in 0..4 {
    let (reply, endpoint) = client.command("PING").await.unwrap();
    assert_eq!(reply, "PONG");
    assert_eq!(endpoint, server.endpoint);
  }
  let states = client.pool_states();
  assert!(
    states.iter().any(|s| s.endpoint == dead && s.down),
    "the refused endpoint is down"
  );
  assert!(states.iter().any(|s| s.endpoint == server.endpoint && !s.down));
  // A scan sees the same health: it goes straight to the live endpoint.
  let outcome = client.scan(buffer(EICAR), &CallOptions::default()).await.unwrap();
  assert_eq!(outcome.endpoint, Some(server.endpoint.clone()));
  assert_eq!(outcome.attempts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovered_name_becomes_one_endpoint_per_address() {
  let server = fake(Mode::Clamd, 0).await;
  let Endpoint::Tcp { port, .. } = server.endpoint.clone() else {
    unreachable!()
  };
  // An address literal resolves to itself (no resolver is asked).
  let mut cfg = config(vec![]);
  cfg.discover = vec![Endpoint::Tcp {
    host: "127.0.0.1".into(),
    port,
  }];
  let client = Client::new(cfg);
  let outcome = client.scan(buffer(EICAR), &CallOptions::default()).await.unwrap();
  assert!(matches!(outcome.reply.verdict, Verdict::Malicious { .. }));
  assert_eq!(outcome.endpoint, Some(server.endpoint.clone()));
  assert_eq!(client.pool_states().len(), 1);
  // A name nobody has: ENOTFOUND, and nothing was scanned.
  let mut cfg = config(vec![]);
  cfg.discover = vec![Endpoint::Tcp {
    host: "no-such-host.invalid".into(),
    port,
  }];
  let missing = Client::new(cfg);
  let err = missing.scan(buffer(b"x"), &CallOptions::default()).await.unwrap_err();
  assert_eq!(err.error.code(), "ENOTFOUND");
  assert!(missing.pool_states().is_empty());
}

/// A reply watcher on plain threads, as the Node binding's is on the JS thread: one thread per
/// socket, polling it and reading through the session's sink until the session stops reading.
struct ThreadWatcher {
  watched: AtomicUsize,
  refuse: bool,
}

impl ReplyWatcher for ThreadWatcher {
  fn watch(&self, fd: OwnedFd, sink: Arc<dyn ReplySink>) -> Result<(), (OwnedFd, Arc<dyn ReplySink>)> {
    if self.refuse {
      return Err((fd, sink));
    }
    self.watched.fetch_add(1, Ordering::SeqCst);
    std::thread::spawn(move || loop {
      let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
      };
      // SAFETY: one pollfd for a descriptor this thread owns.
      unsafe { libc::poll(&mut poll, 1, 1000) };
      if poll.revents != 0 && !sink.readable(fd.as_raw_fd()) {
        return; // the descriptor closes with `fd`
      }
    });
    Ok(())
  }
}

fn watched_client(cfg: ClientConfig, refuse: bool) -> (Arc<Client>, Arc<ThreadWatcher>) {
  let watcher = Arc::new(ThreadWatcher {
    watched: AtomicUsize::new(0),
    refuse,
  });
  let client = Arc::new(Client::with_hooks(cfg, None, Some(watcher.clone())));
  (client, watcher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_read_by_a_watcher_are_matched_out_of_order_on_one_session() {
  let server = fake(Mode::Reversed, 0).await;
  let mut cfg = config(vec![server.endpoint.clone()]);
  cfg.max_connections = 1;
  let (client, watcher) = watched_client(cfg, false);
  let (a, b) = tokio::join!(verdict(&client, EICAR), verdict(&client, b"clean bytes"));
  assert!(matches!(a.unwrap(), Verdict::Malicious { viruses } if viruses == ["Eicar-Test-Signature"]));
  assert_eq!(b.unwrap(), Verdict::Clean);
  assert_eq!(server.connections.load(Ordering::SeqCst), 1, "both on one session");
  assert_eq!(
    watcher.watched.load(Ordering::SeqCst),
    1,
    "its replies were read by the watcher"
  );
  client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_watcher_a_hang_up_is_replayed_once_and_silence_times_out() {
  let server = fake(Mode::Clamd, 1).await;
  let mut cfg = config(vec![server.endpoint.clone()]);
  cfg.max_connections = 1;
  let (client, watcher) = watched_client(cfg, false);
  assert_eq!(verdict(&client, b"x").await.unwrap(), Verdict::Clean);
  assert_eq!(
    server.connections.load(Ordering::SeqCst),
    2,
    "the slammed session was replayed"
  );
  assert_eq!(watcher.watched.load(Ordering::SeqCst), 2);

  let silent = fake(Mode::Silent, 0).await;
  let mut cfg = config(vec![silent.endpoint.clone()]);
  cfg.idle_timeout = Some(Duration::from_millis(200));
  let (client, _) = watched_client(cfg, false);
  let started = Instant::now();
  assert_eq!(verdict(&client, b"x").await.unwrap_err().code(), "ETIMEDOUT");
  assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_nobody_can_watch_ends_and_its_scan_is_never_clean() {
  let server = fake(Mode::Clamd, 0).await;
  let mut cfg = config(vec![server.endpoint.clone()]);
  cfg.idle_timeout = Some(Duration::from_millis(500));
  let (client, _) = watched_client(cfg, true);
  let started = Instant::now();
  let err = verdict(&client, b"x").await.unwrap_err();
  assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
  // The session ends before or while the call is written to it (`Closed`), or the replay finds
  // it gone (`HangUp`): either way an error, never a verdict.
  assert!(matches!(err, ClamError::Closed | ClamError::HangUp), "{err:?}");
}
