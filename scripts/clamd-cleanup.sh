# Sourced by the scripts that run against private clamd instances (test.sh, bench.sh, soak.sh):
# when the script exits, it stops the instances it used, unless another script still uses one, or
# one was running on its own when this script began (the demo's, or one a developer keeps up).
# So a bench next to a test run (from this checkout or another) stops neither the other's
# instances nor its own under the other.
#
# Every `scripts/clamd.sh start` made under this script, by it or by the tests it runs, records
# this script as a user of the instance ($dir/users/<pid>, from POMPELMI_CLAMD_USER).
clamd_base="${POMPELMI_CLAMD_DIR:-/tmp/pompelmi-clamd}"
export POMPELMI_CLAMD_USER="$$"

# Whether the instance in $1 is used by a live script other than this one (users that are gone
# are forgotten).
clamd_used_by_others() {
  local user in_use=1
  for user in "$1"/users/*; do
    [[ -e "$user" && "$(basename "$user")" != "$$" ]] || continue
    if kill -0 "$(basename "$user")" 2>/dev/null; then in_use=0; else rm -f "$user"; fi
  done
  return "$in_use"
}

# Running now with no script using it: someone keeps it up; it stays.
clamd_kept=" "
for d in "$clamd_base"/*/; do
  [[ -f "$d/clamd.pid" ]] && kill -0 "$(cat "$d/clamd.pid")" 2>/dev/null && ! clamd_used_by_others "$d" \
    && clamd_kept+="$(basename "$d") "
done

stop_started_clamds() {
  for d in "$clamd_base"/*/; do
    [[ -f "$d/users/$$" ]] || continue
    rm -f "$d/users/$$"
    local name
    name="$(basename "$d")"
    [[ "$clamd_kept" == *" $name "* ]] && continue
    clamd_used_by_others "$d" || scripts/clamd.sh stop "$name"
  done
}
trap stop_started_clamds EXIT
