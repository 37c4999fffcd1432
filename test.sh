#!/usr/bin/env bash
# Run the whole test suite (installs on first use). Arguments go to pytest, e.g. ./test.sh -m "not slow".
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
