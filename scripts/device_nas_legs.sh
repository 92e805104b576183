#!/usr/bin/env bash
# Issue 23, item 2 on a lent GPU: distilled DARTS against plain DARTS on Fashion-MNIST, 3 seeds each, in
# resumable legs that fit the device's per-call limit. Each arm is scripts/train_shipped_nas.py (teacher,
# search, retraining, each checkpointed) with its own --work; a finished arm keeps its model folder and
# is skipped. The checkpoints come back in $OUT/nas-work; put them back under .whl/ for the next leg.
#
# Here, once:      scripts/pack_device_bundle.sh nas                      (Fashion-MNIST into .whl/)
# Each leg:        run(command="bash scripts/device_nas_legs.sh 540", carry=[".whl"], timeout_s=600)
# After each leg:  keep <files_at>/nas-work (the finished arms' model folders are there), then
#                  rm -rf .whl/nas-work && cp -r <files_at>/nas-work .whl/ && scripts/pack_device_bundle.sh nas
#                  (the pack keeps only config.json of finished arms and checks the 64 MiB carry limit:
#                  Fashion-MNIST and the repo left about 0.6 MB until uspto-forward-small (9 MB) left resources/
#                  on 2026-12-07: about 9.6 MB now for an unfinished arm's checkpoints)
# NAS_DEVICE=cpu runs it here for a smoke test (with --quick). Extra arguments go to every
# train_shipped_nas.py call (e.g. --epochs 100 --channels 24 --precision bf16-mixed; keep them the same from
# leg to leg, or the checkpoints will not match).
# The log of the leg is $OUT/nas-legs.log; $OUT/nas-summary.json has the finished arms' figures.
set -uo pipefail
cd "$(dirname "$0")/.."
budget=${1:-540}; shift || true
OUT=${OUT:-/tmp/nas_out}
mkdir -p "$OUT" .whl/nas-work
[ -f .whl/fashion_mnist/train-images-idx3-ubyte.gz ] || { echo "no .whl/fashion_mnist: run scripts/pack_device_bundle.sh nas" >&2; exit 3; }
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
end=$((SECONDS + budget))
{
  nvidia-smi -L 2>/dev/null || echo "no nvidia-smi (NAS_DEVICE=${NAS_DEVICE:-cuda})"
  for seed in 0 1 2; do
    for arm in distilled plain; do
      work=.whl/nas-work/$arm-seed$seed
      [ -f "$work/model/config.json" ] && { echo "== $arm seed $seed: done before"; continue; }
      left=$((end - SECONDS))
      [ "$left" -gt 60 ] || { echo "== out of time before $arm seed $seed"; break 2; }
      flags=(); [ "$arm" = plain ] && flags=(--no-distill)
      echo "== $arm seed $seed: up to ${left} s"
      timeout --signal=TERM --kill-after=20 "$left" python3 scripts/train_shipped_nas.py --device "${NAS_DEVICE:-cuda}" \
        --data .whl/fashion_mnist --seed "$seed" --work "$work" --out "$work/model" ${flags[@]+"${flags[@]}"} "$@"
      echo "== $arm seed $seed: exit $?"
    done
  done
} 2>&1 | tee "$OUT/nas-legs.log"
python3 - <<'PY' > "$OUT/nas-summary.json"
import json, pathlib
rows = {}
for cfg in sorted(pathlib.Path(".whl/nas-work").glob("*/model/config.json")):
    info = json.loads(cfg.read_text())
    rows[cfg.parent.parent.name] = info.get("metrics", {})
print(json.dumps(rows, indent=1))
PY
cp -r .whl/nas-work "$OUT/nas-work"
cat "$OUT/nas-summary.json"
