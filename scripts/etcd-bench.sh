#!/usr/bin/env bash
# The etcd baseline of BENCHMARKS.md: starts a 3-member etcd cluster on loopback (free
# ports, fresh data dirs in a temp dir, etcd's default fsync of its WAL on every commit),
# drives it with tests/src/bin/etcd_bench.rs (C clients, each waiting for its put; 256 B
# values), prints puts/s and exact p50/p95/p99/max latency, and removes everything again,
# on failure and Ctrl-C too.
#
#   scripts/etcd-bench.sh                       # 64 clients, 20000 puts, spread over the 3 members
#   scripts/etcd-bench.sh --duration 30 --json
#   scripts/etcd-bench.sh --leader-only         # every client on the leader
#
# Needs etcd and etcdctl (scripts/install-bench-tools.sh). Set ETCD_BENCH to a built
# etcd-bench binary to skip `cargo build --release -p fairshare-tests --bin etcd-bench`.
set -euo pipefail

clients=64 count="" duration="" value_bytes=256 leader_only="" json=""
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients="$2"; shift 2 ;;
        --count) count="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --value-bytes) value_bytes="$2"; shift 2 ;;
        --leader-only) leader_only=1; shift ;;
        --json) json=1; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "etcd-bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if [ -n "$count" ] && [ -n "$duration" ]; then echo "etcd-bench.sh: give --count or --duration, not both" >&2; exit 2; fi
[ -z "$count" ] && [ -z "$duration" ] && count=20000

for tool in etcd etcdctl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "etcd-bench.sh: $tool is missing; run scripts/install-bench-tools.sh" >&2; exit 2; }
done

root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${ETCD_BENCH:-}" ]; then
    (cd "$root" && cargo build --quiet --release -p fairshare-tests --bin etcd-bench)
    ETCD_BENCH="$root/target/release/etcd-bench"
fi

work="$(mktemp -d -t etcd-bench.XXXXXX)"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$status" -ne 0 ]; then
        for log in "$work"/*.log; do [ -f "$log" ] && { echo "--- $log (last lines)" >&2; tail -5 "$log" >&2; }; done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Six loopback ports that were free a moment ago: a client and a peer port per member.
read -r -a ports <<<"$(python3 -c '
import socket
sockets = [socket.socket() for _ in range(6)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))')"
cluster="" endpoints=""
for i in 0 1 2; do
    cluster+="${cluster:+,}m$i=http://127.0.0.1:${ports[$((2 * i + 1))]}"
    endpoints+="${endpoints:+,}http://127.0.0.1:${ports[$((2 * i))]}"
done
for i in 0 1 2; do
    client="http://127.0.0.1:${ports[$((2 * i))]}" peer="http://127.0.0.1:${ports[$((2 * i + 1))]}"
    etcd --name "m$i" --data-dir "$work/m$i" \
        --listen-client-urls "$client" --advertise-client-urls "$client" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench-$$" \
        --log-level warn >"$work/m$i.log" 2>&1 &
    pids+=("$!")
done

for _ in $(seq 1 150); do
    if etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1; then break; fi
    sleep 0.2
done
etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1 || { echo "etcd-bench.sh: the etcd cluster did not become healthy in 30 s" >&2; exit 1; }

# The leader first, so that --leader-only puts every client on it.
ordered="$(etcdctl --endpoints "$endpoints" endpoint status -w json | python3 -c '
import json, sys
status = json.load(sys.stdin)
leaders = [s["Endpoint"] for s in status if s["Status"]["leader"] == s["Status"]["header"]["member_id"]]
others = [s["Endpoint"] for s in status if s["Endpoint"] not in leaders]
print(",".join(leaders + others))')"
[ -z "$json" ] && echo "etcd $(etcd --version | head -1 | awk '{print $3}'): 3 members on loopback, leader ${ordered%%,*}; fsync: etcd default (WAL fsync on every commit)"

args=(--endpoints "$ordered" --clients "$clients" --value-bytes "$value_bytes")
[ -n "$count" ] && args+=(--count "$count")
[ -n "$duration" ] && args+=(--duration "$duration")
[ -n "$leader_only" ] && args+=(--leader-only)
[ -n "$json" ] && args+=(--json)
"$ETCD_BENCH" "${args[@]}"
