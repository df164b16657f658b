#!/usr/bin/env bash
# Seeded encodes of every model at small sizes on the repository's samples, and the sha256 of
# each file: run it before and after a change that must not change what the encoders write
# (e.g. a refactor), on the same machine, and diff the two outputs.
#   bash tools/seeded_encodes.sh OUT_DIR > before.txt
set -euo pipefail
OUT=${1:?usage: tools/seeded_encodes.sh OUT_DIR}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$OUT"
V="$ROOT/assets/sample.mp4"; P="$ROOT/assets/sample_cloud.ply"
nc() { PYTHONPATH="$ROOT" python3 -m codec "$@" -q > /dev/null; }
nc encode "$V" -o "$OUT/hnerv.nirc" --model hnerv --size 20k --epochs 6 --max-frames 8 --seed 3
nc encode "$V" -o "$OUT/hnerv_qat.nirc" --model hnerv --size 20k --epochs 4 --qat-epochs 2 \
    --lmbda 0 --loss l1+ssim --max-frames 6 --seed 1
nc encode "$V" -o "$OUT/hashgrid.nirc" --model hashgrid --size 20k --epochs 2 --max-frames 8 --seed 3
nc encode "$V" -o "$OUT/nirvana.nirc" --model nirvana --size 3k --epochs 3 --max-frames 9 --seed 3
nc encode "$V" -o "$OUT/pfnr.nirc" --model pfnr --size 30k --epochs 3 --max-frames 6 --seed 3
nc append "$OUT/pfnr.nirc" "$V" -o "$OUT/pfnr2.nirc" --epochs 2 --start 6 --max-frames 6 --seed 3
nc encode "$P" -o "$OUT/gridpull.nirc" --model gridpull --size 30k --steps 30 --seed 3
nc encode "$P" -o "$OUT/sdf.nirc" --model sdf --size 20k --steps 30 --seed 3
nc encode "$P" -o "$OUT/sdf_cq.nirc" --model sdf --size 20k --steps 30 --coord-quant 64 --seed 3
nc encode "$P" -o "$OUT/csp.nirc" --model csp --size 20k --steps 30 --seed 3
for m in gridpull sdf csp; do
    nc mesh "$P" -o "$OUT/mesh_$m.ply" --method "$m" --resolution 32 --steps 30 --seed 3
done
nc mesh "$P" -o "$OUT/mesh_poisson.ply" --method poisson --seed 3
cd "$OUT" && sha256sum ./*.nirc ./*.ply
