#!/usr/bin/env bash
# GPU check for nnml (about 5-7 minutes on one GPU): install with the machine's own torch, run the CUDA tests, train
# the default MLP and a CNN in precisions 32/bf16/16 with and without torch.compile, train every task's preset for one
# epoch in float32 and bf16, benchmark against the plain loop on CUDA, print a summary.
# Usage: bash scripts/gpu_check.sh [OUT_DIR]   (default: $OUT or ./gpu_check_out)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-$PWD/gpu_check_out}}"
mkdir -p "$OUT_DIR"
PY="${PYTHON:-python}"
export MPLBACKEND=Agg
status=0
step() { echo; echo "=== $*"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
"$PY" - <<'PYEOF' || { echo "no usable CUDA device: nothing to check"; exit 2; }
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name(0))
assert torch.cuda.is_available()
PYEOF

step "install (editable, keeping the installed torch)"
# torch>=2.2 in pyproject is already satisfied, so pip keeps this machine's CUDA build. Without network, missing
# dependencies make pip fail: then run from the checkout (PYTHONPATH) and say so.
if "$PY" -m pip install -q -e . > "$OUT_DIR/pip.log" 2>&1; then
  echo "pip install -e . ok"
else
  echo "pip install -e . failed (see pip.log); running from the checkout with PYTHONPATH"
  tail -3 "$OUT_DIR/pip.log"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import nnml, hydra, typer, rich, tensorboard, sklearn, matplotlib, pytest" || { echo "missing dependencies"; exit 3; }

step "CUDA tests (pytest -m cuda)"
timeout 150 "$PY" -m pytest -q -m cuda tests/engine/test_cuda.py -p no:cacheprovider 2>&1 | tail -15 | tee "$OUT_DIR/pytest_cuda.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "train: mlp and cnn x precision 32/bf16/16, without and with compile"
RUNS="$OUT_DIR/runs"
mkdir -p "$RUNS"
for model in mlp cnn; do
  for prec in 32 bf16 16; do
    for comp in false true; do
      if [ "$comp" = true ] && [ "$prec" = 16 ]; then continue; fi  # fp16+compile: covered by bf16+compile
      name="${model}_p${prec}_compile-${comp}"
      if ! (cd "$RUNS" && timeout 120 "$PY" -m nnml train model=$model trainer.device=cuda trainer.precision=$prec \
              trainer.compile=$comp trainer.max_epochs=10 "hydra.run.dir=$RUNS/$name" > "$RUNS/$name.out" 2>&1); then
        echo "FAILED $name"; tail -5 "$RUNS/$name.out"; status=1
      fi
    done
  done
done

step "every task's preset, one epoch on CUDA, in float32 and bf16 (6 at a time)"
TASKS_DIR="$OUT_DIR/tasks"
mkdir -p "$TASKS_DIR"
PRESETS=(
  "segmentation|experiment=shapes_unet"
  "translation|experiment=translate_numbers"
  "token_classification|experiment=ner_faker"
  "text_classification|experiment=langid"
  "vae|experiment=digits_vae"
  "gan|experiment=digits_gan"
  "contrastive|experiment=mnist1d_simclr"
  "recsys_mf|experiment=recsys model=mf optimizer=adam"
  "recsys_bpr|experiment=recsys model=bpr optimizer=adam"
)
preset_run() {  # NAME PRECISION OVERRIDES...: one epoch; the last lines of its output if it fails
  local name="$1_$2" prec="$2"; shift 2
  if ! (cd "$TASKS_DIR" && OMP_NUM_THREADS=2 timeout 240 "$PY" -m nnml train "$@" trainer.max_epochs=1 \
          trainer.device=cuda trainer.precision=$prec "hydra.run.dir=$TASKS_DIR/$name" > "$TASKS_DIR/$name.out" 2>&1); then
    echo "FAILED $name"; tail -5 "$TASKS_DIR/$name.out"; return 1
  fi
}
pids=()
for entry in "${PRESETS[@]}"; do
  for prec in 32 bf16; do
    while [ "$(jobs -rp | wc -l)" -ge 6 ]; do sleep 0.5; done
    # shellcheck disable=SC2086  # the overrides are words on purpose
    preset_run "${entry%%|*}" "$prec" ${entry#*|} &
    pids+=($!)
  done
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

step "DDP on one GPU node (2 ranks if 2+ GPUs, else skipped)"
NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count())")
if [ "$NGPU" -ge 2 ]; then
  (cd "$RUNS" && timeout 120 "$PY" -m nnml train trainer.device=cuda trainer.devices=2 dataset.batch_size=64 \
      trainer.max_epochs=5 "hydra.run.dir=$RUNS/ddp2" > "$RUNS/ddp2.out" 2>&1) || { echo "FAILED ddp2"; status=1; }
else
  echo "one GPU: skipped"
fi

step "bench against the plain loop on CUDA (batch 128 and 1024; bf16 + compile)"
timeout 120 "$PY" scripts/bench.py --device cuda --repeats 5 --out "$OUT_DIR/bench_cuda_b128.json" > /dev/null 2> "$OUT_DIR/bench_b128.err" || { echo "bench b128 failed"; tail -5 "$OUT_DIR/bench_b128.err"; status=1; }
timeout 90 "$PY" scripts/bench.py --device cuda --repeats 5 --batch-size 1024 --out "$OUT_DIR/bench_cuda_b1024.json" > /dev/null 2> "$OUT_DIR/bench_b1024.err" || { echo "bench b1024 failed"; tail -5 "$OUT_DIR/bench_b1024.err"; status=1; }
timeout 150 "$PY" scripts/bench.py --device cuda --repeats 3 --precision bf16 --compile --out "$OUT_DIR/bench_cuda_bf16_compile.json" > /dev/null 2> "$OUT_DIR/bench_compile.err" || { echo "bench compile failed"; tail -5 "$OUT_DIR/bench_compile.err"; status=1; }

step "summary"
"$PY" - "$RUNS" "$OUT_DIR" <<'PYEOF'
import json, sys
from pathlib import Path
runs, out = Path(sys.argv[1]), Path(sys.argv[2])
print(f"{'run':32s} {'test/acc':>8s} {'samples/s':>11s} {'compile_s':>9s} {'train_s':>8s}")
for d in sorted(p for p in runs.iterdir() if p.is_dir()):
    m = d / "metrics.json"
    if m.is_file():
        r = json.loads(m.read_text())
        print(f"{d.name:32s} {r['test/acc']:8.4f} {r['train_samples_per_s']:11,.0f} {r['compile_time_s']:9.2f} {r['train_time_s']:8.3f}")
    else:
        print(f"{d.name:32s} no metrics.json")
tasks = out / "tasks"
if tasks.is_dir():
    print(f"\n{'task preset, 1 epoch':32s} {'monitor':>14s} {'test':>8s} {'samples/s':>11s} {'train_s':>8s}")
    for d in sorted(p for p in tasks.iterdir() if p.is_dir()):
        m = d / "metrics.json"
        if m.is_file():
            r = json.loads(m.read_text())
            name = r["monitor"].split("/", 1)[-1]
            value = r.get(f"test/{name}")
            shown = f"{value:8.4f}" if isinstance(value, (int, float)) else f"{str(value):>8s}"
            print(f"{d.name:32s} {name:>14s} {shown} {r['train_samples_per_s']:11,.0f} {r['train_time_s']:8.3f}")
        else:
            print(f"{d.name:32s} no metrics.json")
for f in sorted(out.glob("bench_cuda_*.json")):
    b = json.loads(f.read_text())
    print(f"{f.stem}: ratio {b['ratio']} (nnml {b['nnml']['samples_per_s']:,.0f} vs plain {b['plain']['samples_per_s']:,.0f} "
          f"samples/s), fit_ratio {b['fit_ratio']}, test acc diff {b['test_acc_max_abs_diff']}, "
          f"cuda MB nnml {b['nnml']['cuda_max_allocated_mb']} plain {b['plain']['cuda_max_allocated_mb']}")
PYEOF
echo
[ "$status" -eq 0 ] && echo "GPU CHECK PASSED" || echo "GPU CHECK FAILED"
exit $status
