#!/usr/bin/env bash
# Launch Tuning Studio: installs on first use, then opens the app in your browser.
# Arguments go to app.py (try ./run.sh --help).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
exec .venv/bin/python app.py "$@"
