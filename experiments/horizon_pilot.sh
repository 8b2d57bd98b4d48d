#!/bin/sh
# The pilot of the horizon experiment (EXPERIMENTS.md): at the base width
# only (16), one seed, an octave LR grid 2^-11 .. 2^-2, at 500 and 2000
# steps, to place experiments/horizon.sh's LR grid and to choose its weight
# decay where decay does not hurt (three independent values and none).
# About 15 minutes on 2 cores. Outputs: runs/horizon-pilot/ (OUT=...);
# resumable like every sweep.
set -e
LRT=${LRT:-./lrt}
OUT=${OUT:-runs/horizon-pilot}
JOBS=${JOBS:-2}
mkdir -p "$OUT"
SCHED="--warmup-fraction 0.1 --lr-decay linear --min-lr-fraction 0"
MUP="--param mup --d-base 16"
cat > "$OUT/configs.txt" <<CONFIGS
mup-coupled          $MUP --wd-mode coupled --weight-decay 0.3 $SCHED
mup-independent      $MUP --wd-mode independent --weight-decay 0.003 $SCHED
mup-ind-0.001        $MUP --wd-mode independent --weight-decay 0.001 $SCHED
mup-ind-0.01         $MUP --wd-mode independent --weight-decay 0.01 $SCHED
mup-no-wd            $MUP --wd-mode none $SCHED
sp-warmup10          --param sp --d-base 16 --wd-mode independent --weight-decay 0.003 $SCHED
muon-independent     $MUP --optimizer muon --muon-scale spectral --wd-mode independent --weight-decay 0.003 $SCHED
muon-coupled         $MUP --optimizer muon --muon-scale spectral --wd-mode coupled --weight-decay 0.3 $SCHED
mup-ind-spectral     $MUP --wd-mode independent --weight-decay 0.003 --wd-norm spectral $SCHED
CONFIGS
COMMON="--depth 2 --head-dim 16 --batch-size 8 --seq-len 64 --val-batches 16 --val-every 0 --sample-length 0 \
--measure-every 0 --synth-train-tokens 4000000 --synth-val-tokens 65536 --diverge-loss 7 --adam-lr 0.01"
LRS=0.00048828125,0.0009765625,0.001953125,0.00390625,0.0078125,0.015625,0.03125,0.0625,0.125,0.25
for H in 2000 500; do
    $LRT sweep --dir "$OUT/h$H" --configs "$OUT/configs.txt" --widths 16 --lrs $LRS \
        --common "$COMMON --steps $H" --lrt "$LRT" --jobs "$JOBS"
done
