#!/usr/bin/env bash
# Smoke test of a fresh install on another Python.
#
#   .ci/smoke.sh [--short] [--keep-venv DIR | --venv DIR] PYVER \
#       [ANNOTATOR_DIR [REFERENCE_LABELS]]
#
# Makes a fresh venv with pyenv's newest PYVER (e.g. 3.12), runs the README's
# first command there on a copy of this checkout's files (`pip install
# torch==2.13.0 && pip install .`, then `actinn demo`), after the I/O and
# label-matching tests on the pandas this Python resolves; then, with
# ANNOTATOR_DIR (an annotator saved by `actinn train`, e.g. on another
# Python), `actinn predict` on the bundled test set and `actinn report`,
# prints accuracy and macro F1 and fails below 0.9 accuracy, or, given
# REFERENCE_LABELS (the predicted_label.txt the same annotator gave
# elsewhere), if more than 1% of the cells get another label.
# --short: a two-epoch `actinn train` on the bundled sample stands in for the
# demo, and the I/O tests are left out (the training path on this Python, in
# seconds, where another Python's smoke run, on the same pandas, runs them
# and the demo).
# --keep-venv DIR: the venv is made in DIR (which must not exist) and kept;
# --venv DIR: a venv so kept is used, and only the steps with ANNOTATOR_DIR
# run. (.ci/run makes the venvs while the main tests run, and predicts with
# them once its annotator is trained.)
# Everything else lives in a temporary folder removed at the end (pip's own
# cache is kept, so a second run downloads nothing).
# Exits non-zero, saying which step failed, if anything fails.
set -euo pipefail

usage="usage: .ci/smoke.sh [--short] [--keep-venv DIR | --venv DIR] PYVER [ANNOTATOR_DIR [REFERENCE_LABELS]]"
short="" keep="" venv=""
while [[ ${1:-} == --* ]]; do
    case $1 in
    --short) short=1 ;;
    --keep-venv) keep=${2:?$usage} && shift ;;
    --venv) venv=${2:?$usage} && shift ;;
    *) echo "$usage" >&2 && exit 2 ;;
    esac
    shift
done
pyver=${1:?$usage}
annotator=${2:-}
reference=${3:-}
if [[ -n "$keep" && -n "$venv" ]] || [[ -n "$venv" && -z "$annotator" ]]; then
    echo "$usage" >&2
    exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
step="start"
trap 'echo "SMOKE FAILED on Python $pyver at: $step" >&2' ERR

root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
python=$(ls -d "$root"/versions/"$pyver".*/bin/python 2>/dev/null |
    sort -V | tail -n 1 || true)
if [[ -z "$python" ]]; then
    echo "SMOKE FAILED: no Python $pyver under $root/versions" >&2
    exit 1
fi
if [[ -n "$annotator" ]]; then
    annotator=$(cd "$annotator" && pwd)
fi
if [[ -n "$reference" ]]; then
    reference=$(cd "$(dirname "$reference")" && pwd)/$(basename "$reference")
fi
if [[ -n "$keep" ]]; then
    if [[ -e "$keep" ]]; then
        echo "SMOKE FAILED: --keep-venv $keep exists" >&2
        exit 2
    fi
    mkdir -p "$(dirname "$keep")"
    keep=$(cd "$(dirname "$keep")" && pwd)/$(basename "$keep")
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1
echo "== smoke on $("$python" --version) in $work"

# Each step's start, with the seconds since the smoke began.
mark() { step=$1; echo "== [$SECONDS s] $step"; }

reused=${venv:+1}
if [[ -n "$reused" ]]; then
    # shellcheck disable=SC1091
    source "$venv/bin/activate"
else
    venv=${keep:-$work/venv}
    mark "venv"
    "$python" -m venv "$venv"
    # shellcheck disable=SC1091
    source "$venv/bin/activate"

    # The checkout's files (tracked, and untracked ones git does not
    # ignore), copied: pip builds in the folder it installs from, where
    # .ci/run's main tests install this checkout at the same time.
    mark "copying the checkout"
    mkdir "$work/src"
    if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
            tar --null --ignore-failed-read -T - -cf -) |
            tar -C "$work/src" -xf -
    else
        tar -C "$repo" --exclude=./.git --exclude=./build -cf - . |
            tar -C "$work/src" -xf -
    fi

    # The README's first command (its install part), in that copy.
    cd "$work/src"
    mark "pip install torch==2.13.0"
    pip install -q torch==2.13.0
    mark "pip install ."
    pip install -q .
fi

# Run from the empty work folder, so nothing there shadows an installed module.
cd "$work"
data=$(python -c "from deepchem_actinn.datasets import tabula_muris_sample_paths as p; print(p()['test'].parent)")

if [[ -n "$reused" ]]; then
    : # its install, tests and demo ran when it was made
elif [[ -n "$short" ]]; then
    mark "actinn train, 2 epochs"
    actinn train -trs "$data/train_sample.h5" -trl "$data/train_label_sample.txt" \
        -ne 2 --networks 1 --threads 1 -q -m short_annotator
else
    # The readers' and label matching's tests on the pandas this Python
    # resolves (3 on 3.12 and 3.13, whose str dtype once hid empty CSV
    # fields and misaligned a labels Series), on the installed package
    # (importlib mode puts no checkout folder on sys.path); pytest comes from
    # pip's cache, with pytest-xdist for the -n of pyproject.toml (-n 0 here:
    # in one process, as .ci/run's main tests run beside it).
    mark "I/O tests on pandas $(python -c 'import pandas; print(pandas.__version__)')"
    pip install -q pytest pytest-xdist
    python -m pytest -q -p no:cacheprovider --import-mode=importlib -n 0 \
        "$repo"/tests/test_readers.py \
        "$repo"/tests/test_io_*.py "$repo"/tests/test_text_*.py \
        "$repo"/tests/test_writers.py \
        "$repo"/tests/test_wrong_content.py "$repo"/tests/test_labels.py

    mark "actinn demo"
    actinn demo -o demo --threads 1
fi
if [[ -z "$annotator" ]]; then
    echo "== smoke on Python $pyver passed in $SECONDS s"
    exit 0
fi

mark "actinn predict with $annotator"
actinn predict -m "$annotator" -ts "$data/test_sample.h5" -o pred -op -q

mark "actinn report"
actinn report -p pred/predicted_label.txt -pr pred/predicted_probabilities.txt \
    -l "$data/test_label_sample.txt" -m "$annotator" -o report -q

mark "scoring the predictions"
python - "$data/test_label_sample.txt" "$reference" <<'PY'
import sys

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score


def labels(path, header):
    frame = pd.read_csv(path, sep="\t", header=header, index_col=0)
    return frame.iloc[:, 0].astype(str)


pred = labels("pred/predicted_label.txt", 0)
truth = labels(sys.argv[1], None).loc[pred.index]
accuracy = accuracy_score(truth, pred)
print("accuracy %.4f   macro F1 %.4f" %
      (accuracy, f1_score(truth, pred, average="macro")))
if sys.argv[2]:
    reference = labels(sys.argv[2], 0).loc[pred.index]
    differ = float((reference != pred).mean())
    print("%.2f%% of the cells labelled differently from %s" %
          (100 * differ, sys.argv[2]))
    if differ > 0.01:
        sys.exit("the annotator predicts differently on this Python")
elif accuracy < 0.9:
    sys.exit("accuracy %.4f is below 0.9" % accuracy)
PY
echo "== smoke on Python $pyver passed in $SECONDS s"
