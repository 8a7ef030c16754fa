#!/usr/bin/env bash
# Installs the independent Python verifier of audit exports (spec/verifier/): a venv with
# protobuf and cryptography (and grpcio-tools, used only here to compile the .proto files,
# since the machine has no protoc), and the compiled _pb2 modules of the three schema
# files. Everything goes under target/python-verifier/ (outside git). Idempotent: a second
# run with nothing changed does nothing but check.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
dir="$root/target/python-verifier"
venv="$dir/venv"
gen="$dir/gen"
python="${PYTHON:-python3}"

PROTOBUF_VERSION="5.29.3"
CRYPTOGRAPHY_VERSION="44.0.0"
GRPCIO_TOOLS_VERSION="1.68.1"

if [ ! -x "$venv/bin/python" ]; then
    echo "creating venv $venv"
    mkdir -p "$dir"
    "$python" -m venv "$venv"
fi
want="protobuf==$PROTOBUF_VERSION cryptography==$CRYPTOGRAPHY_VERSION grpcio-tools==$GRPCIO_TOOLS_VERSION"
stamp="$venv/.fairshare-installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing $want"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $want
    echo "$want" > "$stamp"
fi

protos=(
    "proto/proto/fairshare/ledger.proto"
    "proto/proto/fairshare/audit.proto"
    "api/proto/fairshare/api.proto"
)
# Recompile when any .proto is newer than the generated modules (or they are missing).
need=0
[ -f "$gen/fairshare/audit_pb2.py" ] || need=1
for p in "${protos[@]}"; do
    if [ "$need" -eq 0 ] && [ "$p" -nt "$gen/fairshare/audit_pb2.py" ]; then need=1; fi
done
if [ "$need" -eq 1 ]; then
    echo "compiling ${protos[*]} into $gen"
    rm -rf "$gen.tmp" && mkdir -p "$gen.tmp"
    "$venv/bin/python" -m grpc_tools.protoc \
        -I proto/proto -I api/proto \
        --python_out="$gen.tmp" \
        fairshare/ledger.proto fairshare/audit.proto fairshare/api.proto
    rm -rf "$gen" && mv "$gen.tmp" "$gen"
fi
"$venv/bin/python" - "$gen" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import google.protobuf, cryptography
from fairshare import ledger_pb2, audit_pb2, api_pb2  # noqa: F401
print("python verifier ready: protobuf", google.protobuf.__version__,
      "cryptography", cryptography.__version__)
PY
