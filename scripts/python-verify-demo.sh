#!/usr/bin/env bash
# The independent Python verifier (spec/verifier/) against a live export of the demo:
# starts `fairshare devnet --demo` in a temporary dir on free ports, waits (bounded) until
# the demo has been played and the ledger is certified up to its last leaf, writes
# `fairshare audit export`, stops the devnet, and verifies the export with the Python
# verifier (and checks that tampered copies of it fail); then the SPEC.md test-vector export and vectors, if present. Builds nothing.
#
#   scripts/python-verify-demo.sh [FAIRSHARE_BINARY]     (or FAIRSHARE=… in the environment)
#
# Environment: FAIRSHARE (the binary), PYTHON_VERIFIER_PY (the venv's python; default
# target/python-verifier/venv/bin/python, made by scripts/install-python-verifier.sh),
# SPEC_VECTORS (default spec/vectors), DEMO_EXPORT_COPY (keep a copy of the export there), DEMO_TIMEOUT (seconds, default 600: a debug build
# on a busy machine plays the demo in about 4 minutes).
# Exit status: 0 when every verification passes, non-zero otherwise.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/.."
root="$PWD"
bin="${1:-${FAIRSHARE:-}}"
if [ -z "$bin" ]; then
    echo "usage: $0 FAIRSHARE_BINARY (or FAIRSHARE=path)" >&2
    exit 2
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
[ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
py="${PYTHON_VERIFIER_PY:-$root/target/python-verifier/venv/bin/python}"
[ -x "$py" ] || { echo "no verifier venv at $py: run scripts/install-python-verifier.sh" >&2; exit 2; }
vectors="${SPEC_VECTORS:-$root/spec/vectors}"
timeout_s="${DEMO_TIMEOUT:-600}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/fairshare-pyverify.XXXXXX")"
devnet_pid=""
cleanup() {
    status=$?
    if [ -n "$devnet_pid" ] && kill -0 "$devnet_pid" 2>/dev/null; then
        # the devnet runs in its own process group (setsid): stop the whole group, nodes too
        kill -INT -- "-$devnet_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$devnet_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL -- "-$devnet_pid" 2>/dev/null || true
        wait "$devnet_pid" 2>/dev/null || true
    fi
    if [ "$status" -ne 0 ] && [ -f "$tmp/devnet.log" ]; then
        echo "--- last lines of the devnet's output:" >&2
        tail -n 30 "$tmp/devnet.log" >&2 || true
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free ports: a random base whose node ports (P..P+3) and metrics ports (P+100..) are unused.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=""
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    ok=1
    for q in $p $((p + 1)) $((p + 2)) $((p + 3)) $((p + 100)) $((p + 101)) $((p + 102)) $((p + 103)); do
        port_free "$q" || { ok=0; break; }
    done
    if [ "$ok" -eq 1 ]; then base=$p; break; fi
done
[ -n "$base" ] || { echo "no free ports found" >&2; exit 2; }

echo "== devnet --demo in $tmp (ports $base..$((base + 3)))"
setsid "$bin" devnet --demo --dir "$tmp/devnet" --base-port "$base" >"$tmp/devnet.log" 2>&1 &
devnet_pid=$!
cfg="$tmp/devnet/client.toml"

# The demo is finished when the devnet says so: after the scenario's steps it prints
# "played config/demo.toml: N applied, M rejected as expected", then "ready: …". Then wait
# until the ledger is quiet and certified up to its last leaf (`status --json`: the
# largest size equals its certified_size, twice in a row), so the export ends certified.
status_json() { "$bin" --config "$cfg" status --json 2>/dev/null || true; }
deadline=$(($(date +%s) + timeout_s))
played=0
last=""
stable=0
while :; do
    if ! kill -0 "$devnet_pid" 2>/dev/null; then
        echo "the devnet exited early" >&2
        exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "the demo did not finish within ${timeout_s}s" >&2
        exit 1
    fi
    if [ "$played" -eq 0 ] && grep -Eq '^played .*demo' "$tmp/devnet.log" \
        && grep -Eq '^ready: ' "$tmp/devnet.log"; then
        played=1
        echo "   the devnet reports the demo played"
    fi
    if grep -Eq '^(error|Error)' "$tmp/devnet.log"; then
        echo "the devnet reports an error" >&2
        exit 1
    fi
    if [ "$played" -eq 1 ] && [ -f "$cfg" ]; then
        s="$(status_json | "$py" -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(0)
nodes = d if isinstance(d, list) else d.get("nodes", [d])
best = None
for n in nodes:
    if not isinstance(n, dict) or "size" not in n:
        continue
    size, cert = int(n.get("size") or 0), int(n.get("certified_size") or 0)
    if best is None or size > best[0]:
        best = (size, cert)
if best and best[0] > 0 and best[0] == best[1]:
    print(f"{best[0]}")
')"
        if [ -n "$s" ] && [ "$s" = "$last" ]; then
            stable=$((stable + 1))
        else
            stable=0
        fi
        last="$s"
        if [ -n "$s" ] && [ "$stable" -ge 2 ]; then
            echo "   certified up to its last leaf: size $s"
            break
        fi
    fi
    sleep 1
done

echo "== fairshare audit export"
"$bin" --config "$cfg" audit export --out "$tmp/demo.fsa"
if [ -n "${DEMO_EXPORT_COPY:-}" ]; then cp "$tmp/demo.fsa" "$DEMO_EXPORT_COPY"; fi
echo "== stopping the devnet"
kill -INT -- "-$devnet_pid" 2>/dev/null || true
for _ in $(seq 1 50); do
    kill -0 "$devnet_pid" 2>/dev/null || break
    sleep 0.2
done
kill -KILL -- "-$devnet_pid" 2>/dev/null || true
wait "$devnet_pid" 2>/dev/null || true
devnet_pid=""

status=0
echo "== python verifier: the demo export"
"$py" spec/verifier/fairshare_verify.py "$tmp/demo.fsa" || status=1
echo "== python verifier: the demo export, tampered the ways of issue 14"
"$py" spec/verifier/tamper_test.py "$tmp/demo.fsa" || status=1
if [ -f "$vectors/export.fairshare" ]; then
    echo "== python verifier: the test-vector export and vectors ($vectors)"
    "$py" spec/verifier/fairshare_verify.py "$vectors/export.fairshare" --vectors "$vectors" || status=1
else
    echo "== no test vectors at $vectors: skipped"
fi
exit "$status"
