#!/bin/sh
# The CUDA path against PyTorch on the same GPT, same grid, same step:
#
#     sh bench/gpu_vs_torch.sh [OUT_DIR]          (default OUT_DIR: runs/gpu_vs_torch)
#
# 1. checks that python3 has torch with a CUDA GPU, builds build/bench_gpu and
#    checks that it can use the GPU (before anything long runs);
# 2. runs bench/torch_gpt.py --all: every (width, precision, eager|compile),
#    each in a fresh Python process, appending rows to OUT_DIR/torch.csv
#    (log: OUT_DIR/torch.log);
# 3. runs build/bench_gpu --torch-csv OUT_DIR/torch.csv: our rows, written to
#    OUT_DIR/lrt.csv, then lrt / PyTorch per row; the whole table is also in
#    OUT_DIR/table.txt.
#
# Resuming: torch_gpt.py --all skips the configurations already in torch.csv,
# so after an interruption (a time limit, say) the same command continues
# where it stopped. FRESH=1 starts torch.csv over. The PyTorch half dominates
# the time (torch.compile compiles each of the 12 compile configurations
# anew); to split the work, run it with MODES=eager, then again with the
# default MODES (the eager rows are then skipped).
#
# Settings (environment; defaults are bench_gpu's):
#   WIDTHS=256,512,1024,2048  PRECISIONS=fp32,tf32,bf16  MODES=eager,compile
#   DEPTH=6 SEQ_LEN=1024 BATCH=16 VOCAB=50304 HEAD_DIM=64 STEPS=10 WARMUP=3
#   PYTHON=python3  MAKE=make  CONFIG_TIMEOUT=0 (seconds per PyTorch configuration; 0 = none)
#   PEAK_TFLOPS= (fp32,tf32,bf16 dense peaks for a GPU the programs do not know)
#   FRESH=1 (discard an earlier torch.csv)
set -u
cd "$(dirname "$0")/.." || exit 1

OUT=${1:-runs/gpu_vs_torch}
PYTHON=${PYTHON:-python3}
MAKE=${MAKE:-make}
WIDTHS=${WIDTHS:-256,512,1024,2048}
PRECISIONS=${PRECISIONS:-fp32,tf32,bf16}
MODES=${MODES:-eager,compile}
DEPTH=${DEPTH:-6}
SEQ_LEN=${SEQ_LEN:-1024}
BATCH=${BATCH:-16}
VOCAB=${VOCAB:-50304}
HEAD_DIM=${HEAD_DIM:-64}
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
CONFIG_TIMEOUT=${CONFIG_TIMEOUT:-0}
PEAK_TFLOPS=${PEAK_TFLOPS:-}

start=$(date +%s)
die() {
    echo "gpu_vs_torch: error: $*" >&2
    exit 1
}
took() {  # seconds since $1 as 1m23s
    s=$(($(date +%s) - $1))
    echo "$((s / 60))m$((s % 60))s"
}

# ---- what the run needs, checked before anything long
command -v "$PYTHON" >/dev/null 2>&1 ||
    die "$PYTHON not found: PyTorch (the peer this compares with) needs Python 3 (set PYTHON=...)"
torch_version=$("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null) ||
    die "PyTorch is not installed for $PYTHON (pip install torch, a CUDA build)"
"$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null ||
    die "torch $torch_version sees no CUDA GPU (a CPU-only build of torch, or no GPU/driver)"

# without nvcc the Makefile builds no CUDA path (and no bench_gpu)
case $("$MAKE" -s info 2>/dev/null) in
*NVCC=none*) die "nvcc was not found, so this build has no CUDA path (install the CUDA Toolkit, or make NVCC=/path/to/nvcc)" ;;
esac
echo "gpu_vs_torch: building build/bench_gpu"
"$MAKE" build/bench_gpu || die "'$MAKE build/bench_gpu' failed"

# the same grid for both programs
grid="--widths $WIDTHS --precisions $PRECISIONS --depth $DEPTH --seq-len $SEQ_LEN --batch $BATCH"
grid="$grid --vocab $VOCAB --head-dim $HEAD_DIM --steps $STEPS --warmup $WARMUP"
peak=""
[ -n "$PEAK_TFLOPS" ] && peak="--peak-tflops $PEAK_TFLOPS"

# bench_gpu exits 1 here if this build or machine cannot use the GPU
# shellcheck disable=SC2086  # $grid and $peak are word lists on purpose
build/bench_gpu --check-only $grid $peak || die "build/bench_gpu cannot use the GPU (see above)"

mkdir -p "$OUT" || die "cannot create $OUT"
[ "${FRESH:-0}" = 1 ] && rm -f "$OUT/torch.csv"

# ---- PyTorch
t0=$(date +%s)
echo
echo "gpu_vs_torch: PyTorch $torch_version, modes $MODES -> $OUT/torch.csv (log $OUT/torch.log)"
# shellcheck disable=SC2086
{
    "$PYTHON" bench/torch_gpt.py --all --modes "$MODES" --csv-append "$OUT/torch.csv" \
        --config-timeout "$CONFIG_TIMEOUT" $grid $peak
    echo $? >"$OUT/.torch_status"
} 2>&1 | tee "$OUT/torch.log"
torch_status=$(cat "$OUT/.torch_status" 2>/dev/null || echo 1)
rm -f "$OUT/.torch_status"
torch_took=$(took "$t0")
[ "$torch_status" = 0 ] || echo "gpu_vs_torch: some PyTorch configurations failed (see $OUT/torch.log); comparing the rest" >&2

# ---- ours
t0=$(date +%s)
echo
compare=""
[ -s "$OUT/torch.csv" ] && compare="--torch-csv $OUT/torch.csv"
# shellcheck disable=SC2086
{
    build/bench_gpu --require-gpu $grid $peak --csv "$OUT/lrt.csv" $compare
    echo $? >"$OUT/.lrt_status"
} 2>&1 | tee "$OUT/table.txt"
lrt_status=$(cat "$OUT/.lrt_status" 2>/dev/null || echo 1)
rm -f "$OUT/.lrt_status"

echo
echo "gpu_vs_torch: took $(took "$start") (PyTorch $torch_took, lrt $(took "$t0")); table $OUT/table.txt," \
    "rows $OUT/lrt.csv and $OUT/torch.csv"
[ "$torch_status" = 0 ] || die "PyTorch exit status $torch_status"
[ "$lrt_status" = 0 ] || die "bench_gpu exit status $lrt_status"
exit 0
