#!/usr/bin/env bash
# Installs what BENCHMARKS.md needs beyond cargo: Debian's etcd (etcd-server: the `etcd`
# binary of the 3-member cluster that scripts/etcd-bench.sh starts; etcd-client: `etcdctl`,
# with which the script waits for the cluster and finds its leader). Debian packages no
# etcd `benchmark` tool; the load generator is ours (tests/src/bin/etcd_bench.rs).
# Idempotent.
set -euo pipefail
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}"
    $sudo_cmd apt-get update -qq
    # The package's own service is not wanted: the script runs its members itself.
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "bench tools ready: $(command -v etcd) ($(etcd --version | head -1)), $(command -v etcdctl)"
