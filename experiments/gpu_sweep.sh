#!/bin/sh
# The GPU checks of a sweep (issue 5), on a machine with an NVIDIA GPU:
#  1. the quick reproduction (experiments/reproduce.sh quick) with every run on
#     the GPU, JOBS runs at a time sharing it, and its optimal LR per
#     (configuration, width) against the CPU sweep's (docs/reproduce-quick/
#     optimum.csv, from `make reproduce-quick`), in octaves;
#  2. sweep throughput: one configuration's 24 runs one at a time and JOBS at a
#     time, in runs per hour (the runner prints it at the end).
# Usage: sh experiments/gpu_sweep.sh        (JOBS=8, OUT=runs/gpu-sweep by default)
set -eu
cd "$(dirname "$0")/.."
JOBS=${JOBS:-8}
OUT=${OUT:-runs/gpu-sweep}
LRT=${LRT:-./lrt}
make lrt >/dev/null
# a clear error now rather than 3 failed runs later
$LRT train --device cuda --print-table --steps 1 >/dev/null
mkdir -p "$OUT"
start=$(date +%s)

echo "== 1. the quick reproduction on the GPU, $JOBS runs at a time"
# (no pipe: set -e must see a failure; the log is shown afterwards)
DEVICE=cuda JOBS=$JOBS OUT="$OUT/reproduce-quick" LRT=$LRT sh experiments/reproduce.sh quick > "$OUT/reproduce.log" 2>&1 ||
    { tail -20 "$OUT/reproduce.log"; echo "gpu_sweep.sh: the GPU reproduction failed; see $OUT/reproduce.log" >&2; exit 1; }
tail -25 "$OUT/reproduce.log"
test -f "$OUT/reproduce-quick/sweep/optimum.csv"
echo
echo "== fitted optimal LR per width: CPU (docs/reproduce-quick) vs GPU ($OUT/reproduce-quick/sweep)"
awk -F, 'NR == FNR { if (FNR > 1) cpu[$1 "," $2] = $5; next }
         FNR == 1 { printf "%-26s %6s %14s %14s %9s\n", "config", "width", "cpu_fitted_lr", "gpu_fitted_lr", "octaves"; next }
         ($1 "," $2) in cpu { c = cpu[$1 "," $2]; printf "%-26s %6s %14.5g %14.5g %+9.2f\n", $1, $2, c, $5, log($5 / c) / log(2) }' \
    docs/reproduce-quick/optimum.csv "$OUT/reproduce-quick/sweep/optimum.csv" | tee "$OUT/optimum_cpu_vs_gpu.txt"

echo
echo "== 2. sweep throughput: mup-independent (3 widths x 8 LRs), 1 vs $JOBS at a time"
grep '^mup-independent' "$OUT/reproduce-quick/configs.txt" > "$OUT/one_config.txt"
COMMON="--depth 2 --head-dim 16 --steps 600 --batch-size 8 --seq-len 64 --val-batches 16 --val-every 0 --sample-length 0 --measure-every 10 --synth-train-tokens 1000000 --synth-val-tokens 65536 --diverge-loss 7 --device cuda"
LRS=0.0009765625,0.001953125,0.00390625,0.0078125,0.015625,0.03125,0.0625,0.125
: > "$OUT/throughput.txt"
for j in 1 "$JOBS"; do
    rm -rf "$OUT/throughput-jobs$j"
    $LRT sweep --dir "$OUT/throughput-jobs$j" --configs "$OUT/one_config.txt" --widths 32,64,128 --lrs $LRS \
        --common "$COMMON" --lrt "$LRT" --jobs "$j" > "$OUT/throughput-jobs$j.log" 2>&1 ||
        { echo "gpu_sweep.sh: the sweep with --jobs $j failed; see $OUT/throughput-jobs$j.log" >&2; exit 1; }
    grep 'runs/hour' "$OUT/throughput-jobs$j.log" | sed "s/^/jobs $j: /" >> "$OUT/throughput.txt"
done
cat "$OUT/throughput.txt"
echo
echo "done in $(( $(date +%s) - start )) s; outputs in $OUT/"
