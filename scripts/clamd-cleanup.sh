# Sourced by the scripts that run against private clamd instances (test.sh, bench.sh, soak.sh):
# when the script exits, it stops every instance that was not running when it began. One that
# was (the demo's, or one a developer keeps up) stays.
clamd_base="${POMPELMI_CLAMD_DIR:-/tmp/pompelmi-clamd}"
clamd_running_before=" "
for d in "$clamd_base"/*/; do
  [[ -f "$d/clamd.pid" ]] && kill -0 "$(cat "$d/clamd.pid")" 2>/dev/null && clamd_running_before+="$(basename "$d") "
done
stop_started_clamds() {
  for d in "$clamd_base"/*/; do
    [[ -d "$d" ]] || continue
    local name
    name="$(basename "$d")"
    [[ "$clamd_running_before" == *" $name "* ]] || scripts/clamd.sh stop "$name"
  done
}
trap stop_started_clamds EXIT
