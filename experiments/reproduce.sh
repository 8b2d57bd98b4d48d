#!/bin/sh
# The paper's figure set (docs/science.md §1.3) at our scale: learning-rate sweeps
# across widths for five configurations, then the measurement figures.
#   sh experiments/reproduce.sh quick   built-in corpus, widths 32-128, ~17 min on 2 cores (make reproduce-quick)
#   sh experiments/reproduce.sh full    Brown corpus, widths 64-512, a long CPU run, not timed
# (make reproduce is the horizon experiment, experiments/horizon.sh)
# Outputs go to runs/reproduce-<mode>/ (override with OUT=...). Rerunning
# resumes: finished runs are skipped. DEVICE=cuda trains on the GPU (and does
# not overwrite docs/). EXPERIMENTS.md quotes these outputs.
set -e
MODE=${1:-quick}
LRT=${LRT:-./lrt}
OUT=${OUT:-runs/reproduce-$MODE}
JOBS=${JOBS:-2}
DEVICE=${DEVICE:-cpu}   # cuda: every run on the GPU (experiments/gpu_sweep.sh does that)
mkdir -p "$OUT"

case $MODE in
quick)
    D_BASE=32
    WIDTHS=32,64,128
    LRS=0.0009765625,0.001953125,0.00390625,0.0078125,0.015625,0.03125,0.0625,0.125
    DATA="--synth-train-tokens 1000000 --synth-val-tokens 65536"
    COMMON="--depth 2 --head-dim 16 --steps 600 --batch-size 8 --seq-len 64 --val-batches 16 --val-every 0 --sample-length 0 --measure-every 10"
    ;;
full)
    D_BASE=64
    WIDTHS=64,128,256,512
    LRS=0.000244140625,0.00048828125,0.0009765625,0.001953125,0.00390625,0.0078125,0.015625,0.03125
    if [ ! -f data/brown_train.bin ]; then sh data/get_brown.sh; fi
    DATA="--train-data data/brown_train.bin --val-data data/brown_val.bin"
    COMMON="--depth 4 --head-dim 32 --steps 5000 --batch-size 16 --seq-len 128 --val-batches 32 --val-every 0 --sample-length 0 --measure-every 50"
    ;;
*)
    echo "usage: sh experiments/reproduce.sh quick|full" >&2
    exit 2
    ;;
esac

if [ "$DEVICE" != cpu ]; then COMMON="$COMMON --device $DEVICE"; fi

# Weight decay sized so that a run spans several equilibrium timescales
# 1/(eta*lambda): independent decay 0.01 per step, about 3 timescales over
# 600 steps with this schedule (warmup 10%, then linear decay to 0); coupled
# lambda 1 gives the same decay at lr 0.01 (µP's hidden matrices get lr/m).
# The full mode keeps lambda * steps about the same.
if [ $MODE = quick ]; then WD_IND=0.01; WD_COUPLED=1; else WD_IND=0.0012; WD_COUPLED=0.12; fi
SCHED="--warmup-fraction 0.1 --lr-decay linear --min-lr-fraction 0"
cat > "$OUT/configs.txt" <<CONFIGS
# name                      lrt train flags
mup-coupled                 --param mup --d-base $D_BASE --wd-mode coupled --weight-decay $WD_COUPLED $SCHED
mup-independent             --param mup --d-base $D_BASE --wd-mode independent --weight-decay $WD_IND $SCHED
mup-no-wd                   --param mup --d-base $D_BASE --wd-mode none $SCHED
sp-warmup10                 --param sp --d-base $D_BASE --wd-mode independent --weight-decay $WD_IND $SCHED
sp-warmup10-replacement     --param sp --d-base $D_BASE --wd-mode independent --weight-decay $WD_IND $SCHED --replacement-warmup closed-form
CONFIGS

$LRT sweep --dir "$OUT/sweep" --configs "$OUT/configs.txt" --widths $WIDTHS --lrs $LRS \
    --common "$COMMON $DATA --diverge-loss 7" --lrt "$LRT" --jobs "$JOBS"
$LRT figures --sweep "$OUT/sweep" --mup-config mup-independent --sp-config sp-warmup10
# the quick mode's figures are the ones EXPERIMENTS.md shows
if [ $MODE = quick ] && [ -z "${NO_DOCS:-}" ] && [ "$DEVICE" = cpu ]; then
    mkdir -p docs/reproduce-quick
    for f in loss_vs_lr.svg rrc_alignment.svg weight_norm.svg implicit_warmup.svg optimum.csv figures_summary.csv results.csv; do
        cp "$OUT/sweep/$f" docs/reproduce-quick/
    done
    echo "copied the figures to docs/reproduce-quick/"
fi
