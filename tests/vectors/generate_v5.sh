#!/usr/bin/env bash
# Regenerates v5-python.json and v5-js.json from the official COS SDKs with
# frozen clocks. Installs the pinned SDKs into a temporary directory.
#
# Usage: tests/vectors/generate_v5.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q cos-python-sdk-v5==1.9.44
"$work/venv/bin/python" "$here/generate_v5_python.py" > "$here/v5-python.json"

(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund cos-js-sdk-v5@1.10.1)
NODE_PATH="$work/node_modules" node "$here/generate_v5_js.cjs" > "$here/v5-js.json"
echo "wrote $here/v5-python.json and $here/v5-js.json"
