#!/usr/bin/env bash
# The README's first command: install what is missing, build, make the
# sample data and start the daemon on it (offline advisor), which prints the
# dashboard URL.  Ctrl-C stops it.
#   CUSTOMERS=N  size of the sample (default 30000)
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null

mkdir -p data
if [ ! -f data/sample.db ]; then
    build/creditsense demo-data --out data/sample.db --customers "${CUSTOMERS:-30000}"
fi

echo
echo "Example customers: 103065 108032 111950 112961 121072 103788"
echo "  curl -d '{\"customer_id\": 103065}' http://127.0.0.1:8080/process_customer"
echo "  build/creditsense customer --config deploy/creditsense.json --id 108032 --format text"
echo
# Offline advice unless the config names a backend: no key, no data leaves the machine.
exec env -u GEMINI_API_KEY build/creditsense serve --config deploy/creditsense.json
