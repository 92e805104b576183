#!/usr/bin/env bash
# One reaction training leg ON a lent GPU (Python 3.12, torch+CUDA preinstalled, no internet), from the bundle
# of scripts/pack_reaction_leg.sh: installs the reaction wheels into /tmp/site, unpacks the prepared corpus and
# runs scripts/train_reaction.py for BUDGET seconds (then SIGTERM: it stops at the next step with a checkpoint
# and exports the model, the mean of its newest checkpoints).
#
# Usage (from the session):
#   run(command="bash scripts/device_reaction_leg.sh 540 --init-from resources/models/uspto-forward-reagents
#       --steps 20000 --batch-tokens 16384 --warmup 1000 --lr 0.5", carry=[".whl"], timeout_s=600)
# Arguments after BUDGET go to train_reaction.py (--keep-decoder-heads, --prune-budget ... too); --data, --work,
# -o and the data flags recorded at packing come from here. What comes back under $OUT: model/ (the exported
# model folder, ~9 MB: evaluate it here, or carry it as .whl/init and give --init-from .whl/init for the next
# leg), curve.json (top-1/top-5 per checkpoint on --curve-n validation reactions), leg.log.
# REACTION_DEVICE=cpu PYTHON=.venv/bin/python runs it here as a smoke test (the wheels are skipped when the
# python already imports eole, pyonmttok and rdkit).
set -uo pipefail
cd "$(dirname "$0")/.."
budget=${1:?usage: device_reaction_leg.sh BUDGET_SECONDS [train_reaction.py arguments]}; shift
OUT=${OUT:-/tmp/rxn_out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
[ -f .whl/rxn-work/data.json ] || { echo "no .whl/rxn-work/data.json: run scripts/pack_reaction_leg.sh CORPUS here and carry .whl" >&2; exit 3; }
if ! "$PY" -c "import eole, pyonmttok, rdkit" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "no .whl/*.whl and no eole here: run scripts/pack_reaction_leg.sh" >&2; exit 3; }
  PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || { echo "installing .whl/*.whl into /tmp/site failed" >&2; exit 3; }
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
for f in .whl/rxn-work/*.xz; do [ -e "$f" ] && xz -d -f "$f"; done
# the data flags the corpus was prepared with (another value would make the run re-read train.tsv, which stays home)
read -r -a data_flags < <("$PY" -c "import json; r = json.load(open('.whl/rxn-work/data.json'))['recipe']
print('--min-token-count', r['min_token_count'], '--reagents', r['reagents'], '--augment', r['augment'])")
{
  nvidia-smi -L 2>/dev/null || echo "no nvidia-smi (device ${REACTION_DEVICE:-cuda})"
  echo "== leg: up to ${budget} s, data flags ${data_flags[*]}"
  timeout --preserve-status --signal=TERM --kill-after=60 "$budget" "$PY" scripts/train_reaction.py --device "${REACTION_DEVICE:-cuda}" \
    --data .whl/corpus --work .whl/rxn-work -o "$OUT/model" "${data_flags[@]}" "$@"
  rc=$?; echo "$rc" > "$OUT/.rc"; echo "== exit $rc (0: finished, or stopped cleanly at the budget)"
} 2>&1 | tee "$OUT/leg.log"
status=$(cat "$OUT/.rc" 2>/dev/null || echo 1); rm -f "$OUT/.rc"
[ -f .whl/rxn-work/curve.json ] && cp .whl/rxn-work/curve.json "$OUT/"
exit "$status"
