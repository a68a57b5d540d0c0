#!/usr/bin/env bash
# Private clamd instances for the demo, the tests and the benchmark.
#
#   scripts/clamd.sh start [NAME] [--stream-max-length 1M] [--max-file-size 10M]
#                                 [--max-scan-size 1M] [--no-alert-exceeds-max] [--disable-cache]
#                                 [--database DIR] [--tcp-addr ADDR] [--port PORT]
#   scripts/clamd.sh start NAME        # a named instance of the project's, with its preset options
#   scripts/clamd.sh stop [NAME|all]
#   scripts/clamd.sh env [NAME]        # prints CLAMD_PORT=… CLAMD_SOCKET=… CLAMD_PID=…
#
# Each instance lives in $POMPELMI_CLAMD_DIR/NAME (default /tmp/pompelmi-clamd/NAME), listens on a
# free loopback TCP port and on a UNIX socket, and loads only the project's own test signatures
# from testdata/signatures (freshclam cannot reach its mirrors here, and tests must be hermetic).
# Instances run with `AlertExceedsMax yes`, the configuration this package recommends: without it
# clamd answers OK for files its limits made it skip. `--no-alert-exceeds-max` gives the other one.
# `start` is idempotent: a running instance with the same configuration is left alone (one whose
# options changed is restarted). It installs ClamAV with apt-get when clamd is missing and that is
# possible, and otherwise says exactly what to run.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${POMPELMI_CLAMD_DIR:-/tmp/pompelmi-clamd}"
cmd="${1:-start}"; shift || true
name="main"
if [[ $# -gt 0 && "$1" != --* ]]; then name="$1"; shift; fi
dir="$base/$name"

find_clamd() {
  command -v clamd 2>/dev/null || { [[ -x /usr/sbin/clamd ]] && echo /usr/sbin/clamd; } || true
}

install_clamav() {
  [[ -n "$(find_clamd)" ]] && command -v clamscan >/dev/null && return 0
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    echo "clamd.sh: installing ClamAV (apt-get install clamav clamav-daemon)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav clamav-daemon >&2
  elif command -v apt-get >/dev/null && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq >&2
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav clamav-daemon >&2
  else
    echo "clamd.sh: ClamAV is not installed. Install it first, e.g.:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y clamav clamav-daemon   # Debian/Ubuntu" >&2
    echo "  brew install clamav                                                  # macOS" >&2
    exit 1
  fi
  # Debian's package may start its own daemon and freshclam; ours do not need them.
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl stop clamav-daemon clamav-freshclam >/dev/null 2>&1 || true
  fi
}

running() { [[ -f "$dir/clamd.pid" ]] && kill -0 "$(cat "$dir/clamd.pid")" 2>/dev/null; }

ping_clamd() { # exits 0 once clamd answers PONG on its UNIX socket
  node -e '
    const s = require("net").connect(process.argv[1]);
    let r = ""; s.on("connect", () => s.write("zPING\0"));
    s.on("data", d => { r += d; }); s.on("error", () => process.exit(1));
    s.on("close", () => process.exit(r.startsWith("PONG") ? 0 : 1));
    setTimeout(() => process.exit(1), 1000);' "$dir/clamd.sock" 2>/dev/null
}

print_env() {
  echo "CLAMD_PORT=$(cat "$dir/port")"
  echo "CLAMD_SOCKET=$dir/clamd.sock"
  echo "CLAMD_PID=$(cat "$dir/clamd.pid")"
}

# The project's instances, each in the configuration its name promises. Every other limit is
# clamd's default (MaxFileSize 100M, MaxScanSize 400M, …).
preset() {
  case "$name" in
    main|fleet*|tee) echo "--stream-max-length 1G" ;;          # large uploads, limit alerts on
    limit) echo "--stream-max-length 1M" ;;                    # clamd's early size-limit reply
    noalert) echo "--stream-max-length 1G --no-alert-exceeds-max" ;;  # the configuration to avoid
    scanlimit) echo "--max-scan-size 1M" ;;                    # archives that expand past it
    scanlimit-noalert) echo "--max-scan-size 1M --no-alert-exceeds-max" ;;
    bench) echo "--stream-max-length 1G --max-file-size 1G --max-scan-size 1G --disable-cache" ;;  # the 512 MiB stream is scanned whole
  esac
}

start() {
  # shellcheck disable=SC2046
  [[ $# -eq 0 ]] && set -- $(preset)
  local stream_max="100M" cache="no" alert="yes" limits="" database="$repo/testdata/signatures" tcp_addr="127.0.0.1" want_port=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --stream-max-length) stream_max="$2"; shift 2 ;;
      --max-file-size) limits+="MaxFileSize $2"$'\n'; shift 2 ;;
      --max-scan-size) limits+="MaxScanSize $2"$'\n'; shift 2 ;;
      --no-alert-exceeds-max) alert="no"; shift ;;
      --disable-cache) cache="yes"; shift ;;
      --database) database="$2"; shift 2 ;;   # a test's own signature set (e.g. a .cud it updates)
      --tcp-addr) tcp_addr="$2"; shift 2 ;;   # replicas on 127.0.0.2, 127.0.0.3, ::1 (discovery)
      --port) want_port="$2"; shift 2 ;;      # replicas behind one name share a port
      *) echo "clamd.sh: unknown option $1" >&2; exit 2 ;;
    esac
  done
  install_clamav
  mkdir -p "$dir"
  exec 9>"$dir/lock"; flock 9   # parallel test files may ask for the same instance
  # The script this runs under uses the instance (see scripts/clamd-cleanup.sh).
  if [[ -n "${POMPELMI_CLAMD_USER:-}" ]]; then mkdir -p "$dir/users" && : > "$dir/users/$POMPELMI_CLAMD_USER"; fi
  local user_line=""
  # Running as an unprivileged user, as packaged clamd does, is what makes the FILDES test
  # meaningful: clamd can then scan a descriptor for a file it could not open by path.
  if [[ "$(id -u)" == 0 ]] && id clamav >/dev/null 2>&1; then user_line="User clamav"; fi
  # Everything but the port: an instance whose options are unchanged is left running.
  local options
  options="$(cat <<EOF
Foreground yes
$user_line
LocalSocket $dir/clamd.sock
LocalSocketMode 666
TCPAddr $tcp_addr
DatabaseDirectory $database
PidFile $dir/clamd.pid
LogFile $dir/clamd.log
LogTime yes
TemporaryDirectory $dir/tmp
StreamMaxLength $stream_max
${limits}AlertExceedsMax $alert
MaxThreads 10
MaxConnectionQueueLength 200
DisableCache $cache
SelfCheck 0
EOF
)"
  if running && ping_clamd && [[ "$(grep -v '^TCPSocket ' "$dir/clamd.conf" 2>/dev/null)" == "$options" ]] \
    && [[ -z "$want_port" || "$want_port" == "$(cat "$dir/port")" ]]; then
    print_env; return 0
  fi
  if [[ -f "$dir/clamd.pid" ]]; then
    local old; old="$(cat "$dir/clamd.pid")"
    kill "$old" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/clamd.sock" "$dir/clamd.pid"
  local port
  # A restarted instance keeps its port, as a restarted container keeps its address. Ports come
  # from below the kernel's ephemeral range, so no other test's server takes it meanwhile.
  if [[ -n "$want_port" ]]; then
    port="$want_port"
    echo "$port" > "$dir/port"
  elif [[ -f "$dir/port" ]] && node "$repo/scripts/ports.js" bindable "$(cat "$dir/port")"; then
    port="$(cat "$dir/port")"
  else
    port="$(node "$repo/scripts/ports.js" clamd)"
    echo "$port" > "$dir/port"
  fi
  mkdir -p "$dir/tmp"
  if [[ -n "$user_line" ]]; then
    chown -R clamav "$dir"
    chmod 755 "$base" "$dir"
  fi
  printf '%s\nTCPSocket %s\n' "$options" "$port" > "$dir/clamd.conf"
  local clamd; clamd="$(find_clamd)"
  nohup "$clamd" --config-file="$dir/clamd.conf" >"$dir/stdout.log" 2>&1 9>&- &
  echo $! > "$dir/clamd.pid"
  for _ in $(seq 1 300); do
    if ping_clamd; then print_env; return 0; fi
    if ! running; then break; fi
    sleep 0.1
  done
  echo "clamd.sh: clamd '$name' did not answer PING; its logs:" >&2
  tail -n 30 "$dir/stdout.log" "$dir/clamd.log" >&2 || true
  exit 1
}

stop() {
  local dirs=("$dir")
  [[ "$name" == all ]] && dirs=("$base"/*)
  for d in "${dirs[@]}"; do
    [[ -f "$d/clamd.pid" ]] || continue
    (
      # Not while a `start` of the same instance runs (it holds the lock until clamd answers).
      exec 9>"$d/lock"; flock 9
      [[ -f "$d/clamd.pid" ]] || exit 0
      pid="$(cat "$d/clamd.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$d/clamd.pid" "$d/clamd.sock"
      rm -rf "$d/users"
    )
  done
}

case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  env) running || { echo "clamd.sh: '$name' is not running" >&2; exit 1; }; print_env ;;
  install) install_clamav ;;
  *) echo "usage: scripts/clamd.sh start|stop|env|install [NAME] [options]" >&2; exit 2 ;;
esac
