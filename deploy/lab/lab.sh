#!/usr/bin/env bash
# A lab of network namespaces on one machine: a bridge (its own namespace)
# and five hosts, fw1, fw2, wit, client and gw (an upstream router to
# monitor), each with one cable (a veth pair) into the bridge. See
# deploy/lab/README.md.
#
#   lab.sh up                      build the lab (tears down a previous one of the same id first)
#   lab.sh down                    remove everything this lab id created; safe after a failed run
#   lab.sh cut HOST | uncut HOST   pull / plug HOST's cable (the bridge side of its veth)
#   lab.sh partition A B [oneway|icmp]  drop frames A<->B in the bridge
#                                  (oneway: only A->B; icmp: only IPv4 ICMP, both ways)
#   lab.sh heal                    remove every partition
#   lab.sh exec HOST CMD...        run CMD inside HOST's namespace
#   lab.sh addr HOST               print HOST's IPv4 address
#   lab.sh ns HOST                 print HOST's namespace name
#   lab.sh status                  show namespaces, links and partitions
#
# HAPAIR_LAB_ID (default 0, 1-8 letters/digits) keeps parallel labs apart:
# every namespace is named hpl-<id>-<host>. Addresses come from 10.99.0.0/24
# and fd99::/64 and exist only inside the namespaces.
set -euo pipefail

ID=${HAPAIR_LAB_ID:-0}
if [[ ! $ID =~ ^[a-z0-9]{1,8}$ ]]; then
  echo "lab.sh: HAPAIR_LAB_ID must be 1-8 lowercase letters or digits, got '$ID'" >&2
  exit 2
fi
PREFIX="hpl-$ID"
BR="$PREFIX-br"
HOSTS=(fw1 fw2 wit client gw)

host_octet() {
  case "$1" in
    fw1) echo 11 ;;
    fw2) echo 12 ;;
    wit) echo 13 ;;
    client) echo 100 ;;
    gw) echo 254 ;;
    *) echo "lab.sh: unknown host '$1' (hosts: ${HOSTS[*]})" >&2; exit 2 ;;
  esac
}

ns() { host_octet "$1" >/dev/null; echo "$PREFIX-$1"; }

need_root() {
  if [[ $(id -u) -ne 0 ]]; then echo "lab.sh: run as root (network namespaces need it)" >&2; exit 1; fi
  for cmd in ip nft; do
    command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] || { echo "lab.sh: $cmd not found" >&2; exit 1; }
  done
}

down() {
  local n
  for n in "${HOSTS[@]}"; do ip netns del "$PREFIX-$n" 2>/dev/null || true; done
  ip netns del "$BR" 2>/dev/null || true
  # Anything else under this prefix (a half-built run of an older layout).
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-" || true); do
    ip netns del "$n" 2>/dev/null || true
  done
}

up() {
  down
  ip netns add "$BR"
  ip -n "$BR" link set lo up
  ip -n "$BR" link add br0 type bridge
  ip -n "$BR" link set br0 up
  # Partitions are bridge-family drop rules; the chain exists (empty) from the start.
  ip netns exec "$BR" nft -f - <<EOF
table bridge lab {
  chain forward { type filter hook forward priority 0; policy accept; }
}
EOF
  local h o
  for h in "${HOSTS[@]}"; do
    o=$(host_octet "$h")
    ip netns add "$PREFIX-$h"
    ip -n "$PREFIX-$h" link set lo up
    # Both ends are created directly inside their namespaces: no name in the root namespace.
    ip link add eth0 netns "$PREFIX-$h" type veth peer name "v-$h" netns "$BR"
    ip -n "$BR" link set "v-$h" master br0 up
    ip -n "$PREFIX-$h" link set eth0 up
    ip -n "$PREFIX-$h" addr add "10.99.0.$o/24" dev eth0
    ip -n "$PREFIX-$h" -6 addr add "fd99::$o/64" dev eth0 nodad
  done
  echo "lab $ID up: ${HOSTS[*]} on 10.99.0.0/24 (namespaces $PREFIX-*)"
}

partition() {
  local a=$1 b=$2 mode=${3:-both} match=()
  ns "$a" >/dev/null; ns "$b" >/dev/null
  case "$mode" in
    both | oneway) ;;
    # A lost monitored path (R4, R10) while TCP, and so the nodes' Raft traffic, still flows.
    icmp) match=(ip protocol icmp) ;;
    *) echo "lab.sh: partition mode must be oneway or icmp (or none: both ways, everything), got '$mode'" >&2; exit 2 ;;
  esac
  ip netns exec "$BR" nft add rule bridge lab forward iifname "v-$a" oifname "v-$b" "${match[@]}" drop comment "\"$a>$b $mode\""
  if [[ $mode != oneway ]]; then
    ip netns exec "$BR" nft add rule bridge lab forward iifname "v-$b" oifname "v-$a" "${match[@]}" drop comment "\"$b>$a $mode\""
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  up) need_root; up ;;
  down) need_root; down ;;
  cut) need_root; ns "${1:?host}" >/dev/null; ip -n "$BR" link set "v-$1" down ;;
  uncut) need_root; ns "${1:?host}" >/dev/null; ip -n "$BR" link set "v-$1" up ;;
  partition) need_root; partition "${1:?host A}" "${2:?host B}" "${3:-both}" ;;
  heal) need_root; ip netns exec "$BR" nft flush chain bridge lab forward ;;
  exec) need_root; n=$(ns "${1:?host}"); shift; exec ip netns exec "$n" "$@" ;;
  addr) echo "10.99.0.$(host_octet "${1:?host}")" ;;
  ns) ns "${1:?host}" ;;
  status)
    ip netns list | grep -E "^$PREFIX-" || echo "lab $ID is down"
    if ip netns list | grep -qE "^$BR( |$)"; then
      ip -n "$BR" -br link show master br0
      ip netns exec "$BR" nft list chain bridge lab forward
    fi
    ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    [[ -z $cmd || $cmd == help || $cmd == -h ]] || exit 2
    ;;
esac
