#!/usr/bin/env bash
# The one command to run ON a lent GPU machine (Python 3.12, torch+CUDA preinstalled, no internet): installs
# the wheels that scripts/pack_device_bundle.sh put in .whl/ into /tmp/site, puts /tmp/site and the repo on
# PYTHONPATH (chemaccel travels as source), reports the GPU and torch, then runs the tests marked `gpu`.
#
# Usage, from the session (here: pack first, a variant per call):
#   scripts/pack_device_bundle.sh core        # or: reaction
#   run(command="bash scripts/device_gpu_check.sh", carry=[".whl"])
# It runs the tests of the packed variant (core: -k 'not reaction'; reaction: -k reaction); arguments go to
# pytest, a `-k EXPR` among them replaces that selection: `bash scripts/device_gpu_check.sh -x --timeout 240`.
# The log lands in $OUT/gpu_tests.log ($OUT defaults to /tmp/gpu_out); the exit status is pytest's.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
ls .whl/*.whl >/dev/null 2>&1 || { echo "no .whl/*.whl: run scripts/pack_device_bundle.sh and carry .whl" >&2; exit 3; }
variant=$(cat .whl/VARIANT 2>/dev/null || echo unknown)
echo "bundle: $variant ($(ls .whl/*.whl | wc -l) wheels)"
PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl ||
  { echo "installing .whl/*.whl into /tmp/site failed" >&2; exit 3; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c 'import sys, torch; print("python", sys.version.split()[0], "| torch", torch.__version__, "| CUDA", torch.version.cuda, "| cuda available:", torch.cuda.is_available())'
# without -k: the tests the packed variant serves (the two variants do not fit in one call)
sel=()
case " $* " in *" -k "*) ;; *) case $variant in core) sel=(-k "not reaction") ;; reaction) sel=(-k reaction) ;; esac ;; esac
python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py ${sel[@]+"${sel[@]}"} "$@" 2>&1 | tee "$OUT/gpu_tests.log"
exit "${PIPESTATUS[0]}"
