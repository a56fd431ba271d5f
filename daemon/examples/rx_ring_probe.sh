#!/bin/sh
# Issue 13 probe: alternate runs of the recvmmsg path (old) and the TPACKET_V3 ring (ring)
# receiving 255 adverts every 10 ms, in two namespaces joined by a veth pair.
# Usage: rx_ring_probe.sh BIN ROUNDS SECONDS [COUNT PERIOD_MS]
# Environment: PROBE_V6=1 for IPv6 adverts; MODES="old ring" the receivers to alternate (also mmsg);
# PROBE_STAMPS=1 (ring only) also reads the raw socket and compares the two paths' timestamps.
set -eu
BIN=$1; ROUNDS=${2:-3}; SECS=${3:-10}; COUNT=${4:-255}; PERIOD=${5:-10}
A=rxr-a-$$; B=rxr-b-$$
cleanup() { ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; }
trap cleanup EXIT INT TERM
ip netns add $A; ip netns add $B
for n in $A $B; do ip netns exec $n sysctl -qw net.ipv6.conf.default.accept_dad=0; done
ip link add rxa$$ netns $A type veth peer name rxb$$ netns $B
ip -n $A addr add 192.0.2.1/24 dev rxa$$; ip -n $B addr add 192.0.2.2/24 dev rxb$$
ip -n $A link set rxa$$ up; ip -n $B link set rxb$$ up
ip -n $A link set lo up; ip -n $B link set lo up
sleep 1
for r in $(seq 1 $ROUNDS); do
  for mode in ${MODES:-old ring}; do
    ip netns exec $A $BIN send rxa$$ $COUNT $PERIOD $((SECS + 3)) > /tmp/rxr-send-$$ &
    S=$!
    ip netns exec $B $BIN $mode rxb$$ 2 $SECS
    wait $S; echo "  $(cat /tmp/rxr-send-$$)"; cat /proc/loadavg
  done
done
rm -f /tmp/rxr-send-$$
