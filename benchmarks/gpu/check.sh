#!/usr/bin/env bash
# The prepared GPU check, one command on a bare GPU machine without internet (and a second one), at most
# 10 minutes: the repository there, with .gpu/site.tar.gz from benchmarks/gpu/prepare.py carried.
#
#   bash benchmarks/gpu/check.sh OUT            # writes OUT/results.json, OUT/check-main.log and the pieces' files
#   bash benchmarks/gpu/check.sh OUT compiled   # then, on the same warm machine: OUT/results-compiled.json
#
# With the device tool: run(command="bash benchmarks/gpu/check.sh $OUT", carry=[".gpu"], timeout_s=600).
set -uo pipefail
OUT=${1:?usage: check.sh OUT [main|compiled]}
PART=${2:-main}
mkdir -p "$OUT"
if [ -f .gpu/site.tar.gz ]; then
    mkdir -p /tmp/site && tar -xzf .gpu/site.tar.gz -C /tmp/site || exit 2
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 benchmarks/gpu/check.py --out "$OUT" --part "$PART" 2>&1 | tee "$OUT/check-$PART.log"
