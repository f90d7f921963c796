#!/usr/bin/env bash
# The prepared GPU check (about 6-8 min on one H200; budget 10). Needs only torch,
# torchvision, numpy, scipy and pytest, plus pandas/pyarrow/matplotlib for the engine and the
# test fixtures: on a machine without them, pass a folder of wheels (made elsewhere with
#   pip download pandas pyarrow matplotlib --only-binary=:all: --python-version 3.12 -d wheels)
# as WHEELS=wheels; they are installed offline into a private folder first.
#
#   benchmarks/gpu_check.sh              # CUDA; results in $OUT (or ./gpu_check_out)
#   benchmarks/gpu_check.sh --cpu        # tiny CPU version (what the test runs)
#   benchmarks/gpu_check.sh --out DIR
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
if [[ -n "${WHEELS:-}" ]]; then
    SITE=$(mktemp -d)
    "$PYTHON" -m pip install --quiet --no-index --find-links "$WHEELS" --target "$SITE" \
        pandas pyarrow matplotlib
    export PYTHONPATH="$PYTHONPATH:$SITE"
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"
