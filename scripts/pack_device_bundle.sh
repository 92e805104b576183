#!/usr/bin/env bash
# Fill .whl/ with the wheels a lent GPU machine lacks for this repo's `gpu` tests and the CLI.
# That machine: x86-64, Python 3.12, torch 2.11+cu130, numpy, scipy, h5py, pytorch-lightning 2.6.6 (which
# ships lightning_fabric), torchmetrics, pytest, pandas ... already installed (see the device notes'
# KINDS.md), no internet. chemaccel itself travels as the repo (PYTHONPATH=$PWD there), not as a wheel.
#
# Usage:  scripts/pack_device_bundle.sh [core|reaction|nas]        (default: core)
#   core      prune, nas, gan (toy data; SA score and FCD metrics), property engine (schnetpack), CLI
#   reaction  reaction engine (eole, pyonmttok, pydantic)
#   nas       no wheels (the NAS engine needs only torch, numpy, safetensors and tqdm, all there): Fashion-MNIST
#             (30 MB) copied to .whl/fashion_mnist for scripts/device_nas_legs.sh (issue 23, item 2)
# then, from the session: run(command="bash scripts/device_gpu_check.sh", carry=[".whl"])
#
# The working tree that travels (tracked + untracked-not-ignored files + .whl) must stay under 64 MiB,
# and rdkit's wheel alone is ~31.8 MB, so both variants cannot travel at once. To fit, wheels are
# repacked: LZMA instead of deflate, ELF debug info stripped, and unused parts dropped (rdkit: type stubs,
# Contrib but SA_Score, test data, ~24 extension modules chemaccel never imports and the libraries only
# they need; ase: tests and GUI; eole: tests). Idempotent: downloads and repacks are cached in $CACHE
# (~/.cache/chemaccel-device-wheels; delete $CACHE/<variant> after changing what is dropped).
set -euo pipefail
variant=${1:-core}
cd "$(git rev-parse --show-toplevel)"
CACHE=${CHEMACCEL_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chemaccel-device-wheels}
LIMIT=$((64 * 1024 * 1024))
rdkit_so='pyAvalonTools|rdScaffoldNetwork|rdAbbreviations|rdChemDraw|rdDeprotect|rdEHTTools|rdFMCS|rdFreeSASA|rdGaussianShape|rdGeneralizedSubstruct|rdMHFPFingerprint|rdMIF|rdMMPA|rdMolCatalog|rdMolProcessing|rdRGroupDecomposition|rdRascalMCES|rdShapeAlign|rdSubstructLibrary|rdSynthonSpaceSearch|rdfiltercatalog|rdfragcatalog|rdtrajectory|rdSimDivPickers'
rdkit_drop="^rdkit-stubs/|/test_data/|/tests/|/($rdkit_so)\.so\$"
case $variant in
  core) sa='SA_Score/|'  # gan's molecule_properties needs RDKit Contrib's sascorer
        pkgs="rdkit==2026.9.1 ase==3.29.0 fcd_torch==1.0.7 schnetpack==2.0.4 matscipy==1.3.1 torch-ema==0.3
              omegaconf==2.3.1 antlr4-python3-runtime==4.9.3 hydra-core==1.3.8 dirsync==2.2.6 fasteners==0.20" ;;
  reaction) sa=''
        pkgs="rdkit==2026.9.1 eole==0.6.4 pyonmttok==1.38.1 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0
              typing-inspection==0.4.5 typing-extensions==4.16.0 torch-optimi==0.3.3" ;;
  nas) sa=''; pkgs='' ;;
  *) echo "usage: $0 [core|reaction|nas]" >&2; exit 2 ;;
esac
declare -A drop=([rdkit]="$rdkit_drop|^rdkit/Contrib/(?!${sa}__init__\.py\$)" [ase]='^ase/(test|gui)/' [eole]='^eole/tests/')
command -v strip >/dev/null && command -v readelf >/dev/null || { echo "ERROR: needs binutils (strip, readelf)" >&2; exit 1; }
mkdir -p "$CACHE/raw" "$CACHE/$variant" .whl
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"; grep -qxF '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
rm -f .whl/*.whl
shopt -s nullglob nocaseglob
for spec in $pkgs; do
  name=${spec%%==*}; ver=${spec#*==}; stem="${name//-/_}-$ver-"
  raw=("$CACHE/raw/$stem"*.whl)
  if [ ${#raw[@]} -eq 0 ]; then
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
      -d "$CACHE/raw" "$spec" 2>/dev/null ||
    python3 -m pip wheel -q --no-deps --no-binary=:all: -w "$CACHE/raw" "$spec"  # sdist only (antlr4 4.9.3)
    raw=("$CACHE/raw/$stem"*.whl)
  fi
  [ ${#raw[@]} -eq 1 ] || { echo "ERROR: expected one wheel for $spec in $CACHE/raw, found ${#raw[@]}" >&2; exit 1; }
  case $(basename "$raw") in *-py3-none-any.whl|*-cp312-cp312-*manylinux*x86_64*.whl) ;;
    *) echo "ERROR: $(basename "$raw") is not a py3-none-any or cp312 manylinux x86_64 wheel" >&2; exit 1 ;; esac
  out="$CACHE/$variant/$(basename "$raw")"
  [ -s "$out" ] || python3 - "$raw" "$out" "${drop[${name,,}]:-}" <<'PY'
import base64, hashlib, lzma, os, re, shutil, subprocess, sys, tempfile, zipfile, zlib
src, dst, drop = sys.argv[1:4]
zin = zipfile.ZipFile(src)
names = [n for n in zin.namelist() if not n.endswith('/') and not n.endswith('.dist-info/RECORD')
         and not (drop and re.search(drop, n))]
record = next(n for n in zin.namelist() if n.endswith('.dist-info/RECORD'))
tmp = tempfile.mkdtemp()
def elf(n):  # stripped copy on disk, or None when not an ELF file
    data = zin.read(n)
    if data[:4] != b'\x7fELF':
        return None
    p = os.path.join(tmp, n.replace('/', '_')); open(p, 'wb').write(data)
    subprocess.run(['strip', '--strip-debug', p], check=True)
    return p
elfs = {n: elf(n) for n in names}
def needed(p):
    out = subprocess.run(['readelf', '-d', p], capture_output=True, text=True, check=True).stdout
    return re.findall(r'\(NEEDED\).*\[(.+)\]', out)
# keep a vendored library (x.libs/) only when a kept module or kept library needs it
libs = {os.path.basename(n): n for n in names if elfs[n] and '.libs/' in n}
keep, todo = set(), [n for n in names if not (elfs[n] and '.libs/' in n)]
while todo:
    n = todo.pop()
    if n not in keep:
        keep.add(n); todo += [libs[x] for x in needed(elfs[n]) if x in libs] if elfs[n] else []
def smaller(data):  # per file: LZMA (as zipfile writes it) unless deflate is smaller
    if len(data) > 1 << 20:
        return zipfile.ZIP_LZMA
    xz = lzma.compress(data, format=lzma.FORMAT_RAW, filters=[{'id': lzma.FILTER_LZMA1}])
    return zipfile.ZIP_LZMA if len(xz) + 9 < len(zlib.compress(data, 6)) else zipfile.ZIP_DEFLATED
rows = []
with zipfile.ZipFile(dst + '.tmp', 'w', zipfile.ZIP_LZMA) as zout:
    for n in (n for n in names if n in keep):
        data = open(elfs[n], 'rb').read() if elfs[n] else zin.read(n)
        info = zipfile.ZipInfo(n, zin.getinfo(n).date_time); info.external_attr = zin.getinfo(n).external_attr
        zout.writestr(info, data, smaller(data))
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
        rows.append(f'{n},sha256={digest},{len(data)}')
    zout.writestr(zipfile.ZipInfo(record, (2020, 1, 1, 0, 0, 0)), '\n'.join(rows + [record + ',,']) + '\n')
os.replace(dst + '.tmp', dst)
shutil.rmtree(tmp)
PY
  cp "$out" .whl/
done
if [ "$variant" = nas ]; then
  data=${CHEMACCEL_SHARED_DATA:-../shared/data}/fashion_mnist
  [ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "ERROR: no Fashion-MNIST in $data" >&2; exit 1; }
  mkdir -p .whl/fashion_mnist && cp "$data"/*-ubyte.gz .whl/fashion_mnist/
  # legs brought home (.whl/nas-work, see device_nas_legs.sh): a finished arm travels as its config.json
  # only (its figures; the weights stay here), an unfinished one with its checkpoints, to resume
  for arm in .whl/nas-work/*/; do
    [ -f "$arm/model/config.json" ] && find "$arm" -type f ! -path '*/model/config.json' -delete
  done 2>/dev/null || true
else
  rm -rf .whl/fashion_mnist
fi
echo "$variant" > .whl/VARIANT
wheels=$(find .whl -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
tree=$(git ls-files -z -co --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
(cd .whl && find . -type f ! -name VARIANT -printf '%s\t%P\n' | sort -rn | awk -F'\t' '{printf "%12d  %s\n", $1, $2}')
printf '%12d  .whl total (%s variant)\n%12d  working tree without .whl\n%12d  travels, of %d (64 MiB): %d left\n' \
  "$wheels" "$variant" "$tree" $((wheels + tree)) $LIMIT $((LIMIT - wheels - tree))
if [ $((wheels + tree)) -ge $LIMIT ]; then
  echo "ERROR: .whl ($wheels bytes) + working tree ($tree bytes) exceed 64 MiB: the device call would be refused" >&2
  exit 1
fi
