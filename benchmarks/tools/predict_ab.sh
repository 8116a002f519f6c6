#!/bin/bash
# Time `actinn predict` of 10^6 x 20,000 simulated cells (10.5 GB .h5ad) with
# this checkout's code and with another commit's, alternately, on the same
# file and annotator (trained by this code: the other commit must read its
# format), one thread; then check that the labels agree.
# Usage: bash benchmarks/tools/predict_ab.sh BASE_COMMIT WORK_DIR
set -euo pipefail
BASE=${1:?usage: predict_ab.sh BASE_COMMIT WORK_DIR}
WORK=${2:?usage: predict_ab.sh BASE_COMMIT WORK_DIR}
ROOT=$(git rev-parse --show-toplevel)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
[ -d "$WORK/base" ] || git -C "$ROOT" worktree add -q --detach "$WORK/base" "$BASE"
export OMP_NUM_THREADS=1
cd "$WORK"
[ -f q1m.h5ad ] || PYTHONPATH="$ROOT" python -m deepchem_actinn simulate \
  -o q1m.h5ad --cells 1000000 --genes 20000 --types 10 --labels q1m_labels.txt -q
[ -d w/model ] || PYTHONPATH="$ROOT" python "$ROOT/benchmarks/scale.py" \
  --query q1m.h5ad --labels q1m_labels.txt --work w --ref-cells 20000 \
  --networks 3 --epochs 10 --batch 1024 --steps train
for round in 1 2; do
  for code in base this; do
    if [ $code = base ]; then src="$WORK/base"; else src="$ROOT"; fi
    rm -rf "out_$code"
    /usr/bin/time -f "$code round $round: %e s, %M KB peak" \
      env PYTHONPATH="$src" python -m deepchem_actinn predict -m w/model \
      -ts q1m.h5ad -o "out_$code" --threads 1 -q
  done
done
cmp <(cut -f1,2 out_base/predicted_label.txt) \
    <(cut -f1,2 out_this/predicted_label.txt) && echo "identical labels"
echo "remove the base worktree with: git worktree remove $WORK/base"
