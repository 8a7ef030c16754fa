#!/usr/bin/env bash
# Prints, from the output of `cargo test --no-fail-fast`, the failing tests and the test
# binaries (targets) that failed; used by .ci/run and scripts/flake-hunt.sh.
# Usage: scripts/failed-tests.sh LOG
set -euo pipefail
log="${1:?usage: scripts/failed-tests.sh LOG}"
tests="$(grep -E '^test .+ \.\.\. FAILED$' "$log" | sed -E 's/^test (.+) \.\.\. FAILED$/\1/' | sort -u || true)"
if [ -n "$tests" ]; then
    echo "failing tests:"
    sed 's/^/  /' <<<"$tests"
fi
# cargo's own summary: "error: N targets failed:" followed by one indented line per target.
targets="$(sed -n '/^error: [0-9]* targets\? failed:/,/^[^ ]/p' "$log" | grep -E '^\s+`' || true)"
single="$(grep -E '^error: test failed, to rerun pass' "$log" | sed -E 's/^error: test failed, to rerun pass //' || true)"
if [ -n "$targets$single" ]; then
    echo "failing test binaries:"
    { printf '%s\n' "$targets"; printf '  %s\n' "$single"; } | grep -v '^\s*$' | sort -u
fi
if [ -z "$tests$targets$single" ]; then
    echo "no failing test named: the build or a test binary failed before any test ran; see the output above"
fi
