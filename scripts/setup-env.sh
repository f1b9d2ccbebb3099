#!/usr/bin/env bash
# Create ./.venv (if missing) and install nni_cnas with the pinned dependencies.
# Idempotent: re-runs pip only when setup.py or constraints.txt changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${1:-test}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.nni_cnas-installed-$EXTRAS"
hash=$(cat setup.py constraints.txt | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
  exit 0
fi
echo "[setup] installing nni_cnas[$EXTRAS] with pinned dependencies (constraints.txt); first time takes a few minutes"
# torch first and alone, pinned, so that no later resolution can pick a CUDA build.
"$VENV/bin/python" -m pip install --quiet -c constraints.txt torch
"$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[$EXTRAS]"
echo "$hash" > "$stamp"
