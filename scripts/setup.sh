#!/usr/bin/env bash
# Set up nnml in a virtual environment (.venv by default): bash scripts/setup.sh
# Installs a CPU build of torch first when none is installed, since a bare `torch` requirement pulls a multi-GB CUDA
# build. On a GPU machine, install the torch build you want first (or set TORCH_SPEC) and it is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
fi
"$VENV/bin/python" -m pip install -q -e ".[dev]"
# MovieLens-100K ships inside recbole's wheel (dataset=movielens_100k reads it there); its dependency pins are old
# and heavy, and nnml needs only the data file.
"$VENV/bin/python" -m pip install -q --no-deps "recbole>=1.2"
echo "nnml installed in $VENV: activate with '. $VENV/bin/activate', then run 'nnml train'"
