#!/usr/bin/env bash
# Runs the whole test suite many times in a row while other processes keep every core
# busy, and reports every failure. A test that fails even once here is a flake to fix
# (with deadlines and polling, never retries or longer sleeps), not to re-run.
#
# Usage: scripts/flake-hunt.sh [--runs N] [--load sha256|stress-ng|none] [--log-dir DIR]
#   --runs N       runs of `cargo test --workspace --no-fail-fast` (default 20)
#   --load KIND    background load: `sha256` (default; one `sha256sum` loop over a 256 MiB
#                  file per core, nothing to install), `stress-ng` (`stress-ng --cpu NPROC`,
#                  Debian's stress-ng, installed with apt if missing) or `none`
#   --log-dir DIR  where each run's output is kept (default target/flake-hunt)
# Exit code: 0 when every run passed, 1 otherwise. The summary lists each run's time and
# the failing tests; the full output of run K is in DIR/run-K.log.
#
# Example: scripts/flake-hunt.sh --runs 20 --load sha256
set -euo pipefail
cd "$(dirname "$0")/.."
runs=20
load=sha256
log_dir=target/flake-hunt
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --load) load="$2"; shift 2 ;;
        --log-dir) log_dir="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument '$1'; see --help" >&2; exit 2 ;;
    esac
done
case "$runs" in ''|*[!0-9]*) echo "--runs takes a number, not '$runs'" >&2; exit 2 ;; esac
mkdir -p "$log_dir"
export CARGO_TERM_COLOR=never

echo "== building the tests once (not under load)"
scripts/install-test-tools.sh >/dev/null
cargo test --workspace --no-run --quiet

cores="$(nproc)"
load_pids=()
scratch="$(mktemp -d)"
stop_load() {
    for pid in "${load_pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
    rm -rf "$scratch"
}
trap stop_load EXIT
case "$load" in
    sha256)
        head -c $((256 * 1024 * 1024)) /dev/urandom >"$scratch/big"
        for _ in $(seq "$cores"); do
            setsid bash -c "while :; do sha256sum '$scratch/big' >/dev/null; done" &
            load_pids+=($!)
        done
        load_text="$cores x sha256sum loop over a 256 MiB file"
        ;;
    stress-ng)
        if ! command -v stress-ng >/dev/null 2>&1; then
            sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
            $sudo_cmd apt-get update -qq && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stress-ng
        fi
        setsid stress-ng --cpu "$cores" --quiet &
        load_pids+=($!)
        load_text="stress-ng --cpu $cores"
        ;;
    none) load_text="none" ;;
    *) echo "--load is sha256, stress-ng or none, not '$load'" >&2; exit 2 ;;
esac

echo "== $runs runs of 'cargo test --workspace --no-fail-fast'; load: $load_text; $cores cores"
passed=0
summary="$log_dir/summary.txt"
: >"$summary"
for run in $(seq "$runs"); do
    started=$(date +%s)
    status=0
    cargo test --workspace --no-fail-fast >"$log_dir/run-$run.log" 2>&1 || status=$?
    seconds=$(( $(date +%s) - started ))
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
        line="run $run/$runs: passed in ${seconds}s (load: $(cut -d' ' -f1 /proc/loadavg))"
    else
        line="run $run/$runs: FAILED in ${seconds}s (exit $status; $log_dir/run-$run.log)"
        scripts/failed-tests.sh "$log_dir/run-$run.log" | sed 's/^/    /' >>"$summary"
    fi
    echo "$line" | tee -a "$summary"
done
echo "== $passed of $runs runs passed under load: $load_text"
[ "$passed" -eq "$runs" ]
