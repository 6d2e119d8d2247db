#!/usr/bin/env bash
# The GPU check of issue 13, prepared to finish within 10 minutes on one GPU.
#
#   bash benchmarks/gpu_check.sh            # results under $OUT (else benchmarks/gpu-results/)
#
# 1. benchmarks on --device cuda (quick sizes), JSON for the GPU column of RESULTS.md;
# 2. the paper preset's pilot: the paper MLP on 8192 CIFAR-10 images, eta = 0.01,
#    b in {8, 16, 32, 64, 128, 256}, seed 0, all six runs sharing the GPU
#    (eoss sweep --jobs-per-gpu 6), PILOT_STEPS steps each (default 3000), then
#    eoss sweep --status;
# 3. the tests marked gpu (pytest -m gpu).
# Each part has its own time limit so one slow part cannot eat the others' time;
# a part that fails is reported and the script goes on. Needs EOSS_DATA_ROOT (or
# DATA_ROOT) pointing at CIFAR-10 for part 2.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/gpu-results}"
mkdir -p "$OUT"
DATA_ROOT="${DATA_ROOT:-${EOSS_DATA_ROOT:-../shared/data}}"
PILOT_STEPS="${PILOT_STEPS:-3000}"
PY="${PYTHON:-python}"
status=0
log() { echo "[gpu_check $(date +%H:%M:%S)] $*" | tee -a "$OUT/summary.txt"; }
part() {  # part NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  log "start $name (limit ${limit}s)"
  timeout --signal=TERM --kill-after=20 "$limit" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  local rc=$?
  log "end $name: exit $rc after $((SECONDS - t0)) s"
  [ "$rc" -eq 0 ] || status=1
}

"$PY" - <<'PY' | tee "$OUT/device.json"
import json, torch
from eoss.analysis.records import env_info
print(json.dumps(env_info(device="cuda" if torch.cuda.is_available() else "cpu"), indent=1))
PY

part hessian_core 150 "$PY" benchmarks/hessian_core.py --quick --json --device cuda
part mlp_hvp 120 "$PY" benchmarks/mlp_hvp.py --quick --json --device cuda

rm -rf "$OUT/pilot"
part pilot 300 "$PY" -m eoss sweep --preset paper-mlp --set lr=0.01 --set seed=0 \
  --set steps="$PILOT_STEPS" --set checkpoint.every=1000 \
  --grid batch_size=8,16,32,64,128,256 --jobs-per-gpu 6 --device cuda \
  --data-root "$DATA_ROOT" --out "$OUT/pilot" --quiet
"$PY" -m eoss sweep --status --out "$OUT/pilot" | tee -a "$OUT/summary.txt"

part pytest_gpu 120 "$PY" -m pytest -q -m gpu -p no:cacheprovider
tail -n 3 "$OUT/pytest_gpu.out" | tee -a "$OUT/summary.txt"
log "done: status $status (see $OUT/*.err for failures)"
exit $status
