#!/usr/bin/env bash
# Install nni_cnas into the Python environment that runs this script (a venv, conda env, container)
# that already has the torch you want (a CUDA build, say), keeping that torch: every other dependency
# pinned as in constraints.txt, torch left as it is. Fails, naming what changed, if torch would not
# stay the same.
#   usage: scripts/install-keeping-torch.sh [PYTHON] [extra pip arguments, e.g. -e . or ".[test]"]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python}
shift || true
TARGET=${*:-.}
torch_state() {
  "$PYTHON" - <<'PY'
import hashlib, importlib.metadata as m, pathlib
try:
    dist = m.distribution('torch')
except m.PackageNotFoundError:
    raise SystemExit('install-keeping-torch: no torch in this environment; install the torch you want first '
                     '(e.g. pip install torch --index-url https://download.pytorch.org/whl/cu124), or use '
                     'scripts/setup-env.sh for a CPU-only environment')
record = dist.read_text('RECORD') or ''
print(dist.version, hashlib.sha256(record.encode()).hexdigest(),
      pathlib.Path(dist.locate_file('torch/__init__.py')).stat().st_mtime_ns)
PY
}
before=$(torch_state)
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
grep -v -i '^torch==' constraints.txt > "$constraints"
# $TARGET is deliberately split: it may be "-e ." or ".[test]".
# shellcheck disable=SC2086
"$PYTHON" -m pip install --quiet -c "$constraints" $TARGET
after=$(torch_state)
if [ "$before" != "$after" ]; then
  echo "install-keeping-torch: torch changed: before '$before', after '$after'" >&2
  exit 1
fi
echo "install-keeping-torch: nni_cnas installed; torch $(echo "$before" | cut -d' ' -f1) kept as it was"
