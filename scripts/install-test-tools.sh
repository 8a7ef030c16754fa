#!/usr/bin/env bash
# Installs what the tests need beyond cargo: xmllint (Debian's libxml2-utils) and the
# ISO 20022 XSDs shipped in the Python package sepaxml (client/tests/sepa_export.rs
# validates `fairshare export sepa` against pain.001.001.09.xsd), and curl (on OpenSSL:
# client/tests/devnet_demo.rs calls a node as a standard gRPC client with the devnet's
# certificates), and the venv of the Python audit verifier (install-python-verifier.sh),
# and Debian's chromium (client/tests/dashboard.rs loads `fairshare dashboard` pages in
# headless chromium and checks figures in the DOM). Idempotent.
set -euo pipefail
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
apt_install() {
    $sudo_cmd apt-get update -qq
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}
if ! command -v xmllint >/dev/null 2>&1; then
    echo "installing libxml2-utils (xmllint)"
    apt_install libxml2-utils
fi
if ! command -v curl >/dev/null 2>&1; then
    echo "installing curl"
    apt_install curl
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (headless browser for the dashboard test)"
    apt_install chromium
fi
if ! python3 -c 'import sepaxml' >/dev/null 2>&1; then
    echo "installing the Python package sepaxml (for its XSDs)"
    python3 -m pip install --quiet sepaxml
fi
xsd="$(python3 -c 'import sepaxml,os;print(os.path.dirname(sepaxml.__file__))')"
find "$xsd" -name 'pain.001.001.09.xsd' | grep -q . || { echo "sepaxml has no pain.001.001.09.xsd under $xsd" >&2; exit 1; }
# The independent Python verifier of audit exports (spec/verifier/, issue 14): a venv
# under target/python-verifier with protobuf and cryptography, and the compiled schema.
"$(dirname "$0")/install-python-verifier.sh"
echo "test tools ready: $(command -v xmllint), $(command -v curl), $(command -v chromium), XSDs in $xsd"
