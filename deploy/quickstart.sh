#!/usr/bin/env bash
# The README's first command: install what is missing, build, make the
# sample data and run the main job on it.
#   CUSTOMERS=N  size of the sample (default 30000)
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null

mkdir -p data
if [ ! -f data/sample.db ]; then
    build/creditsense demo-data --out data/sample.db --customers "${CUSTOMERS:-30000}"
fi

echo
build/creditsense scan --config deploy/creditsense.json --table SAMPLE_APPLICATION --format text
echo
build/creditsense customer --config deploy/creditsense.json --id 103065 --format text
echo
echo "Example customers: 103065 108032 111950 112961 121072 103788"
echo "  build/creditsense customer --config deploy/creditsense.json --id 108032 --format text"
