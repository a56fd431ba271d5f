#!/bin/sh
# Instructions a backup spends per advert it receives, without the machine's load in it:
# a native vipd master and a backup under valgrind's callgrind (COUNT IPv4 instances at
# 100 ms adverts on one veth pair, two network namespaces of their own). After a settling
# time the backup's counters are zeroed, SECONDS later dumped, and the instructions of the
# whole process are divided by the adverts it accepted meanwhile (`vipd status`). Root and
# valgrind needed:
#   daemon/advert-cost.sh [VIPD_BINARY] [COUNT] [SECONDS]
# Without a binary, builds an unstripped static one. The callgrind file stays in
# $ADVERT_COST_OUT (default /tmp) for callgrind_annotate.
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-}
COUNT=${2:-255}
HOLD=${3:-20}
OUT=${ADVERT_COST_OUT:-/tmp}
if [ -z "$BIN" ]; then
  TARGET_DIR=${CARGO_TARGET_DIR:-target}/advert-cost
  CARGO_TARGET_DIR=$TARGET_DIR CARGO_PROFILE_RELEASE_STRIP=false \
    cargo build --release -p vipd --target x86_64-unknown-linux-musl
  BIN=$TARGET_DIR/x86_64-unknown-linux-musl/release/vipd
fi
BIN=$(realpath "$BIN")
WORK=$(mktemp -d /tmp/vipd-advert-cost.XXXXXX)
A=vipd-ac-a-$$ B=vipd-ac-b-$$
pids=""
cleanup() {
  # shellcheck disable=SC2086
  [ -z "$pids" ] || { kill $pids 2>/dev/null || true; wait $pids 2>/dev/null || true; }
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
conf() {
  i=1
  while [ "$i" -le "$COUNT" ]; do
    cat <<C
vrrp_instance VI_$i {
  state $1
  interface eth0
  virtual_router_id $i
  priority $2
  advert_int 0.1
  version 3
  virtual_ipaddress {
    198.51.100.$i/32
  }
}
C
    i=$((i + 1))
  done
}
conf MASTER 150 > "$WORK/r1.conf"
conf BACKUP 100 > "$WORK/r2.conf"
ip netns add "$A"; ip netns add "$B"
ip link add "vac$$a" netns "$A" type veth peer name "vac$$b" netns "$B"
ip -n "$A" link set "vac$$a" name eth0; ip -n "$B" link set "vac$$b" name eth0
ip -n "$A" addr add 192.0.2.1/24 dev eth0; ip -n "$B" addr add 192.0.2.2/24 dev eth0
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; done
ip netns exec "$A" "$BIN" run -c "$WORK/r1.conf" --socket "$WORK/r1.sock" \
  --state-dir "$WORK/state1" 2>"$WORK/r1.log" &
pids="$!"
sleep 2
ip netns exec "$B" valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
  "$BIN" run -c "$WORK/r2.conf" --socket "$WORK/r2.sock" \
  --state-dir "$WORK/state2" 2>"$WORK/r2.log" &
cg=$!
pids="$pids $cg"
received() {
  "$BIN" status --socket "$WORK/r2.sock" | awk '/adverts: received/ { n += $3 } END { print n + 0 }'
}
# Settled: every instance a backup hearing its master.
sleep 15
# The status requests that count the adverts stay outside the measured time.
before=$(received)
callgrind_control -z "$cg" >/dev/null 2>&1
sleep "$HOLD"
callgrind_control -d "$cg" >/dev/null 2>&1
after=$(received)
sleep 1
masters=$("$BIN" status --socket "$WORK/r2.sock" | grep -c "MASTER" || true)
dump=$(ls "$WORK"/cg.out.* | tail -n 1)
cp "$dump" "$OUT/advert-cost.callgrind"
# Adverts: the calls of the checksum check, which every advert received passes once (the
# status counters' window is wider than the profile's).
awk -v count="$COUNT" -v hold="$HOLD" -v status=$((after - before)) -v masters="$masters" '
  /^summary:/ { total = $2 }
  /^c?fn=\([0-9]+\)/ {
    id = $1; sub(/^c?fn=/, "", id)
    if (NF > 1) name[id] = $2
    callee = ($1 ~ /^cfn=/) ? name[id] : ""
  }
  /^calls=/ { sub(/^calls=/, ""); if (callee ~ /vrrp::packet::vrrp_checksum$/) adverts += $1 }
  END {
    printf "backup: %d instances, %d adverts received in %ds (%d by its counters), %d masters (want 0)\n", count, adverts, hold, status, masters
    printf "instructions: %d, per advert received: %d\n", total, total / adverts
  }' "$dump"
echo "profile: $OUT/advert-cost.callgrind"
