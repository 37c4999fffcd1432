#!/usr/bin/env bash
# Run the whole test suite (installs on first use). Arguments go to pytest, e.g. ./test.sh -m "not slow".
# Tests run in parallel workers, one per core (scripts/test_workers.py); each gives torch its share of the
# cores (tests/conftest.py). `./test.sh -n 0` runs them in one process (for -s, pdb or a single test).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
exec .venv/bin/python -m pytest -n "$(.venv/bin/python scripts/test_workers.py)" --dist worksteal "$@"
