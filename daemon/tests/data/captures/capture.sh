#!/bin/bash
# Recreates the keepalived 2.2.7 captures in this directory (run as root from this directory).
# One namespace, one veth pair; keepalived runs alone on vtpka, becomes MASTER after its
# down interval, is stopped with SIGTERM (so each capture ends with a priority-0 advert).
set -u
NS=vtpkcap
DIR=$(pwd)
TMP=$(mktemp -d)
cleanup() {
  for f in "$TMP"/*.kpid "$TMP"/*.tpid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  sleep 0.5
  ip netns del $NS 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add $NS
ip -n $NS link add vtpka type veth peer name vtpkb
ip netns exec $NS sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
ip -n $NS link set lo up
ip -n $NS addr add 192.0.2.1/24 dev vtpka
ip -n $NS addr add 192.0.2.2/24 dev vtpkb
ip -n $NS addr add 2001:db8::1/64 dev vtpka nodad
ip -n $NS link set vtpka up
ip -n $NS link set vtpkb up
sleep 1
# CAPTURES="v2_ipv4_ah" ./capture.sh makes only those.
for c in ${CAPTURES:-v2_ipv4_pass v3_ipv4 v3_ipv6 v2_ipv4_ah}; do
  ip netns exec $NS tcpdump -U -i vtpka -w "$DIR/$c.pcap" "ip proto 112 or ip6 proto 112 or ip proto 51" 2>/dev/null &
  echo $! > "$TMP/$c.tpid"
  sleep 1
  ip netns exec $NS keepalived -n -l -D -P -f "$DIR/$c.conf" -p "$TMP/$c.pid" -r "$TMP/$c.vrrp.pid" >/dev/null 2>&1 &
  echo $! > "$TMP/$c.kpid"
  sleep 6
  kill -TERM "$(cat "$TMP/$c.kpid")"; rm "$TMP/$c.kpid"
  sleep 1.5
  kill "$(cat "$TMP/$c.tpid")"; rm "$TMP/$c.tpid"
  sleep 0.5
done
