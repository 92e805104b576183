#!/usr/bin/env bash
# Pack a reaction training leg for a lent GPU (issues 20 and 23 item 3): the reaction wheels, and the corpus
# already written as the model reads it, so that the GPU trains within a minute instead of spending ~5 minutes
# of its 15 canonicalizing 254,006 reactions with rdkit.
#
# Usage, here:   scripts/pack_reaction_leg.sh CORPUS [train_reaction.py data flags]
#   CORPUS is a folder made by `chemaccel data reactions` (train.tsv, valid.tsv). The data flags
#   (--min-token-count N, --reagents drop|mixed, --augment N; default --min-token-count 20 as the shipped model)
#   are recorded with the prepared corpus, and scripts/device_reaction_leg.sh passes the same ones there.
# Then:          run(command="bash scripts/device_reaction_leg.sh 540 --init-from resources/models/uspto-forward-reagents
#                    --steps 20000 --batch-tokens 16384 --warmup 1000 --lr 0.5", carry=[".whl"], timeout_s=600)
# A second leg:  INIT=<files_at>/model scripts/pack_reaction_leg.sh CORPUS  (the first leg's model, stored in
#                .whl/init at half precision: 4.5 MB instead of 9, what the carry limit leaves room for; a run
#                starting from it trains in float32), then --init-from .whl/init.
#
# What travels: .whl/*.whl (scripts/pack_device_bundle.sh reaction), .whl/corpus/valid.tsv (scored per checkpoint),
# .whl/rxn-work/ (src/tgt-train.txt.xz, src/tgt-valid.txt, vocab.txt, data.json). train.tsv stays here: the
# prepared files stand for it as long as the device run gives the same --data path (.whl/corpus) and data flags.
# Everything must fit the 64 MiB carry limit with the working tree; the sizes are printed and checked.
set -euo pipefail
corpus=${1:?usage: scripts/pack_reaction_leg.sh CORPUS [--min-token-count N] [--reagents drop|mixed] [--augment N]}
shift
cd "$(dirname "$0")/.."
[ -f "$corpus/train.tsv" ] && [ -f "$corpus/valid.tsv" ] || { echo "ERROR: $corpus has no train.tsv and valid.tsv (make it with 'chemaccel data reactions')" >&2; exit 2; }
PY=${PYTHON:-.venv/bin/python}
flags=("$@"); [ ${#flags[@]} -eq 0 ] && flags=(--min-token-count 20)
[ "${PACK_WHEELS:-1}" = 0 ] || bash scripts/pack_device_bundle.sh reaction >/dev/null  # PACK_WHEELS=0: data only (tests)
rm -rf .whl/corpus .whl/rxn-work .whl/init
mkdir -p .whl/corpus
cp "$corpus/valid.tsv" .whl/corpus/
ln -s "$(realpath "$corpus/train.tsv")" .whl/corpus/train.tsv  # read here only; it does not travel
"$PY" scripts/train_reaction.py --data .whl/corpus --work .whl/rxn-work --prepare-only "${flags[@]}"
rm .whl/corpus/train.tsv
if [ -n "${INIT:-}" ]; then
  mkdir -p .whl/init && cp "$INIT/config.json" .whl/init/
  "$PY" -c "import sys; from safetensors.torch import load_file, save_file
w = load_file(sys.argv[1]); save_file({k: v.half() if v.is_floating_point() else v for k, v in w.items()}, sys.argv[2])" \
    "$INIT/model.safetensors" .whl/init/model.safetensors
fi
xz -T0 -9 .whl/rxn-work/src-train.txt .whl/rxn-work/tgt-train.txt
LIMIT=$((64 * 1024 * 1024))
bundle=$(find .whl -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
tree=$({ git ls-files -z -co --exclude-standard 2>/dev/null || true; } | xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
(cd .whl && find . -type f -printf '%s\t%P\n' | sort -rn | head -8 | awk -F'\t' '{printf "%12d  %s\n", $1, $2}')
printf '%12d  .whl total\n%12d  working tree without .whl\n%12d  travels, of %d (64 MiB): %d left\n' \
  "$bundle" "$tree" $((bundle + tree)) $LIMIT $((LIMIT - bundle - tree))
[ $((bundle + tree)) -lt $LIMIT ] || { echo "ERROR: the bundle and the working tree exceed 64 MiB: the device call would be refused" >&2; exit 1; }
