#!/bin/sh
# The horizon experiment (EXPERIMENTS.md, "Does the drift grow with training
# length?"): learning-rate sweeps across widths 16-128 (m = 1..8) at three
# training lengths 16x apart, two seeds each, nine configurations, on the
# built-in corpus. Then the drift of the optimal LR per (configuration,
# length) with its interval over seeds, the measurement figures of the
# longest length, and a constant-LR run per width for the weight norm
# against its equilibrium.
#   sh experiments/horizon.sh         (make reproduce)  2h26m on 2 cores as run (EXPERIMENTS.md)
#   sh experiments/horizon.sh plan    write the plans only (for a cluster)
# Outputs go to runs/horizon/ (OUT=...). Rerunning resumes: finished runs are
# skipped, so the script can be killed and restarted at any point.
# The runs call a copy of the program, $OUT/lrt, made at the first start:
# rebuilding ./lrt while the experiment runs does not disturb it, and every
# run of one experiment uses the same binary. Delete $OUT/lrt to pick up a
# new build. A failed run stops the script (set -e); rerunning it goes on.
# To change the grid of a started experiment, delete $OUT/sweep/plan.txt and
# plan.csv (keep runs/: finished runs whose ids remain are not run again).
# DEVICE=cuda trains on the GPU. On a cluster, run the lines of
# $OUT/sweep/plan.txt and $OUT/constant/plan.txt in any order (a Slurm array:
# sed -n "${SLURM_ARRAY_TASK_ID}p" plan.txt | sh; or GNU parallel), then
# this script again to report. The copy is built for this machine's CPU
# (-march=native): on other nodes build there and point LRT at that build
# before the first start.
set -e
LRT=${LRT:-./lrt}
OUT=${OUT:-runs/horizon}
JOBS=${JOBS:-2}
DEVICE=${DEVICE:-cpu}
STEP=${1:-all}
mkdir -p "$OUT"
if [ ! -x "$OUT/lrt" ]; then cp "$LRT" "$OUT/lrt.tmp" && mv "$OUT/lrt.tmp" "$OUT/lrt"; fi
RUN="$OUT/lrt"

D_BASE=16
WIDTHS=16,32,64,128
HORIZONS=64,256,1024
SEEDS=1,2
# Half-octave grid, 2^-7.5 .. 2^-2 (the hidden matrices' LR at the base
# width). The pilot put the base width's optimum between 2^-6 and 2^-5.5 at
# 2000 steps and near 2^-5 at 500, for AdamW and (at 500) Muon; an earlier,
# longer version of this experiment found µP's optimum at 2^-4 and above at
# 100 and 400 steps, and SP's at width 128 at the grid's floor 2^-7.5 at
# 1600 steps, so the grid spans both ends (shorter runs prefer larger LRs).
# The first runs of this version (mup-coupled) put width 16's optimum at
# 2^-2.5, then the top, at 64 steps, so 2^-2 was added (finished runs kept).
LRS=0.0055242717280199,0.0078125,0.011048543456039806,0.015625,0.022097086912079612,0.03125,0.044194173824159216,0.0625,0.088388347648318433,0.125,0.17677669529663687,0.25
# The tensors that always use AdamW (embeddings, readout, gains, biases)
# keep one LR, so that the sweep measures the hidden matrices' optimum,
# which is what the width argument is about.
COMMON="--depth 2 --head-dim 16 --batch-size 8 --seq-len 64 --val-batches 16 --val-every 0 --sample-length 0 \
--measure-every 10 --synth-train-tokens 1000000 --synth-val-tokens 65536 --adam-lr 0.01 --diverge-loss 7"
if [ "$DEVICE" != cpu ]; then COMMON="$COMMON --device $DEVICE"; fi

# Weight decay: independent 0.005 per step at the peak LR, 0.16, 0.64 and
# 2.56 equilibrium timescales over the three lengths (10% warmup, then
# linear decay to 0: the schedule averages 0.5). Coupled lambda 0.25 gives
# the same decay at lr 0.02, near the base width's optimum; under µP the
# hidden matrices' LR is lr/m, so their coupled decay shrinks with width.
# (The pilot, at the base width and 2000 steps, found 0.003 about as good
# as 0.001 and slightly better than no decay, and 0.01 worse; 0.005 over
# 1024 steps is the same number of timescales as 0.003 over 1700.)
SCHED="--warmup-fraction 0.1 --lr-decay linear --min-lr-fraction 0"
MUP="--param mup --d-base $D_BASE"
SP="--param sp --d-base $D_BASE"
IND="--wd-mode independent --weight-decay 0.005"
COUPLED="--wd-mode coupled --weight-decay 0.25"
MUON="--optimizer muon --muon-scale spectral"
# The plan runs configuration by configuration in this order, so an
# interrupted experiment has its central comparisons complete first.
cat > "$OUT/configs.txt" <<CONFIGS
# name             lrt train flags
mup-coupled        $MUP $COUPLED $SCHED
mup-independent    $MUP $IND $SCHED
mup-no-wd          $MUP --wd-mode none $SCHED
sp-warmup10        $SP $IND $SCHED
muon-independent   $MUP $MUON $IND $SCHED
muon-coupled       $MUP $MUON $COUPLED $SCHED
mup-ind-spectral   $MUP $IND --wd-norm spectral $SCHED
sp-replace-closed  $SP $IND $SCHED --replacement-warmup closed-form
sp-replace-exp     $SP $IND $SCHED --replacement-warmup exponential
CONFIGS

SWEEP="--dir $OUT/sweep --configs $OUT/configs.txt --widths $WIDTHS --lrs $LRS --seeds $SEEDS --horizons $HORIZONS \
--common \"$COMMON\" --lrt $RUN --jobs $JOBS"
# The constant-LR runs: one per width at a grid LR near the optimum, the
# longest length, weight RMS against sqrt(lr/(2 lambda)) once in equilibrium.
printf 'mup-independent-constant  %s %s --warmup-fraction 0.1 --lr-decay constant\n' "$MUP" "$IND" > "$OUT/constant.txt"
CONSTANT="--dir $OUT/constant --configs $OUT/constant.txt --widths $WIDTHS --lrs 0.015625 --seeds 1 \
--common \"$COMMON --steps 2048\" --lrt $RUN --jobs $JOBS"

if [ "$STEP" = plan ]; then
    eval "$RUN sweep plan $SWEEP"
    eval "$RUN sweep plan $CONSTANT"
    exit 0
fi
eval "$RUN sweep $CONSTANT --quiet"
eval "$RUN sweep $SWEEP"
$RUN figures --sweep "$OUT/sweep" --steps 1024 --mup-config mup-independent --sp-config sp-warmup10 \
    --out-dir "$OUT/figures-1024"
$RUN figures --sweep "$OUT/constant" --out-dir "$OUT/figures-constant"
