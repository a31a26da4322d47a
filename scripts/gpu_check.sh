#!/usr/bin/env bash
# GPU check for nnml (about 6 minutes on one H200): run the CUDA tests, train the default MLP and a CNN in precisions
# 32/bf16/16 with and without torch.compile, train every task's preset for one epoch in float32 and bf16, benchmark
# against the plain loop on CUDA, print a summary. With CPU_RACE=1 on a machine of 16+ cores, the CPU races of
# scripts/bench.py (supervised, batch 128 and 1024) and `--suite tasks` (one thread) run at the same time on the
# upper half of the cores, one task per core, while the GPU work keeps to the lower half.
# Usage: bash scripts/gpu_check.sh [OUT_DIR]   (default: ./gpu_check_out; with $OUT set, a tarball of it goes there)
# Offline machines: wheels of the missing dependencies in .whl/ (py3.12) are installed to a temporary folder first.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-$PWD/gpu_check_out}"
mkdir -p "$OUT_DIR"
PY="${PYTHON:-python3}"
export MPLBACKEND=Agg PYTHONUNBUFFERED=1
status=0
step() { echo; echo "=== $(date +%H:%M:%S) $*"; }
NCPU=$(nproc)
HALF=$(( NCPU / 2 ))
if command -v taskset > /dev/null && [ "$NCPU" -ge 16 ]; then
  LOW="taskset -c 0-$(( HALF - 1 ))"
else
  LOW=""
fi

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
"$PY" - <<'PYEOF' || { echo "no usable CUDA device: nothing to check"; exit 2; }
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name(0))
assert torch.cuda.is_available()
PYEOF

step "install (keeping the machine's torch)"
if compgen -G ".whl/*.whl" > /dev/null; then
  # no network: the wheels that travelled with the checkout, into a folder of their own; nnml from the checkout
  SITE=$(mktemp -d)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .whl/*.whl \
      > "$OUT_DIR/pip.log" 2>&1 || { echo "wheel install failed"; tail -5 "$OUT_DIR/pip.log"; exit 3; }
  export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  echo "wheels from .whl/ into $SITE; nnml from the checkout"
elif timeout 300 "$PY" -m pip install -q -e . > "$OUT_DIR/pip.log" 2>&1; then
  # torch>=2.2 in pyproject is already satisfied, so pip keeps this machine's CUDA build
  echo "pip install -e . ok"
else
  echo "pip install -e . failed (see pip.log); running from the checkout with PYTHONPATH"
  tail -3 "$OUT_DIR/pip.log"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" -c "import nnml, hydra, typer, rich, tensorboard, sklearn, matplotlib, pytest" || { echo "missing dependencies"; exit 3; }

race_pids=()
if [ "${CPU_RACE:-0}" = 1 ] && [ -n "$LOW" ]; then
  step "CPU races on cores $HALF-$(( NCPU - 1 )), one lane a core (results at the end)"
  RACE="$OUT_DIR/cpu_race"
  mkdir -p "$RACE"
  LANES=("bench_b128_b1024" "supervised_b128,supervised_b1024" "segmentation" "translation"
         "token_classification,text_classification" "vae,gan" "contrastive" "recsys_mf,recsys_bpr")
  core=$HALF
  for lane in "${LANES[@]}"; do
    [ "$core" -ge "$NCPU" ] && break
    name=${lane//,/+}
    if [ "$lane" = bench_b128_b1024 ]; then
      ( for bs in 128 1024; do
          OMP_NUM_THREADS=1 timeout 150 taskset -c "$core" "$PY" scripts/bench.py --batch-size $bs --repeats 20 \
            --out "$RACE/bench_b$bs.json" > /dev/null 2> "$RACE/bench_b$bs.err"
        done ) &
    else
      OMP_NUM_THREADS=1 timeout 300 taskset -c "$core" "$PY" scripts/bench.py --suite tasks --tasks "$lane" \
        --threads-modes 1 --pairs 5 --out "$RACE/tasks_$name.json" > /dev/null 2> "$RACE/tasks_$name.err" &
    fi
    race_pids+=($!)
    core=$(( core + 1 ))
  done
fi

step "CUDA tests (pytest -m cuda)"
timeout 240 $LOW "$PY" -m pytest -q -n 4 -m cuda tests/engine/test_cuda.py -p no:cacheprovider 2>&1 | tail -40 | tee "$OUT_DIR/pytest_cuda.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "train: mlp and cnn x precision 32/bf16/16, without and with compile (5 at a time)"
RUNS="$OUT_DIR/runs"
mkdir -p "$RUNS"
train_run() {  # NAME OVERRIDES...
  local name="$1"; shift
  if ! (cd "$RUNS" && OMP_NUM_THREADS=2 timeout 180 $LOW "$PY" -m nnml train "$@" trainer.device=cuda \
          trainer.max_epochs=10 "hydra.run.dir=$RUNS/$name" > "$RUNS/$name.out" 2>&1); then
    echo "FAILED $name"; tail -5 "$RUNS/$name.out"; return 1
  fi
}
pids=()
for model in mlp cnn; do
  for prec in 32 bf16 16; do
    for comp in false true; do
      if [ "$comp" = true ] && [ "$prec" = 16 ]; then continue; fi  # fp16+compile: covered by bf16+compile
      while [ "$(jobs -rp | wc -l)" -ge $(( 5 + ${#race_pids[@]} )) ]; do sleep 0.5; done
      train_run "${model}_p${prec}_compile-${comp}" model=$model trainer.precision=$prec trainer.compile=$comp &
      pids+=($!)
    done
  done
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

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
  if ! (cd "$TASKS_DIR" && OMP_NUM_THREADS=2 timeout 240 $LOW "$PY" -m nnml train "$@" trainer.max_epochs=1 \
          trainer.device=cuda trainer.precision=$prec "hydra.run.dir=$TASKS_DIR/$name" > "$TASKS_DIR/$name.out" 2>&1); then
    echo "FAILED $name"; tail -5 "$TASKS_DIR/$name.out"; return 1
  fi
}
pids=()
for entry in "${PRESETS[@]}"; do
  for prec in 32 bf16; do
    while [ "$(jobs -rp | wc -l)" -ge $(( 6 + ${#race_pids[@]} )) ]; do sleep 0.5; done
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
timeout 120 $LOW "$PY" scripts/bench.py --device cuda --repeats 5 --out "$OUT_DIR/bench_cuda_b128.json" > /dev/null 2> "$OUT_DIR/bench_b128.err" || { echo "bench b128 failed"; tail -5 "$OUT_DIR/bench_b128.err"; status=1; }
timeout 90 $LOW "$PY" scripts/bench.py --device cuda --repeats 5 --batch-size 1024 --out "$OUT_DIR/bench_cuda_b1024.json" > /dev/null 2> "$OUT_DIR/bench_b1024.err" || { echo "bench b1024 failed"; tail -5 "$OUT_DIR/bench_b1024.err"; status=1; }
timeout 150 $LOW "$PY" scripts/bench.py --device cuda --repeats 3 --precision bf16 --compile --out "$OUT_DIR/bench_cuda_bf16_compile.json" > /dev/null 2> "$OUT_DIR/bench_compile.err" || { echo "bench compile failed"; tail -5 "$OUT_DIR/bench_compile.err"; status=1; }

if [ "${#race_pids[@]}" -gt 0 ]; then
  step "waiting for the CPU races"
  for pid in "${race_pids[@]}"; do wait "$pid" || { echo "a CPU race lane failed (see $OUT_DIR/cpu_race/*.err)"; }; done
fi

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
race = out / "cpu_race"
if race.is_dir():
    print(f"\nCPU races (one thread, one core a lane): {'task':22s} ratio  cpu_ratio  nnml sps  plain sps  same weights")
    for f in sorted(race.glob("tasks_*.json")):
        for name, t in json.loads(f.read_text())["tasks"].items():
            b = t["by_threads"]["1"]
            print(f"{'':42s}{name:22s} {t['ratio']:.3f}  {t['cpu_ratio']:.3f}  {t['nnml_sps']:9,.0f}  "
                  f"{t['plain_sps']:9,.0f}  {b['same_weights']:.0%}")
    for f in sorted(race.glob("bench_b*.json")):
        b = json.loads(f.read_text())
        print(f"{'':42s}{f.stem:22s} {b['ratio']:.3f}  {b['cpu_ratio']:.3f}  (bench.py, 20 pairs in one process; "
              f"pairs {min(b['ratios_all']):.3f}-{max(b['ratios_all']):.3f})")
PYEOF
echo
[ "$status" -eq 0 ] && echo "GPU CHECK PASSED" || echo "GPU CHECK FAILED"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ] && [ "$OUT_DIR" != "$OUT" ]; then
  # the device tool brings back a few files only: the whole folder as one tarball (run folders' checkpoints left out)
  tar -czf "$OUT/gpu_check.tar.gz" --exclude='*.pt' --exclude='*.pth' -C "$(dirname "$OUT_DIR")" "$(basename "$OUT_DIR")"
fi
exit $status
