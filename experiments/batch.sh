#!/bin/sh
# The batch-size experiments (EXPERIMENTS.md, "Batch size, Adam's epsilon and
# the gradient noise scale"), on the built-in corpus at width 32, depth 2:
#   batch-adam  the optimal LR against the batch size, 4..64 sequences at a
#               fixed token budget, for AdamW (eps 1e-8), AdamW with a large
#               eps (1e-3, the size of sqrt(v) late in training) and Muon;
#               --grad-accum 2 measures the gradient noise scale in every run
#   batch-sgd   the same for SGD with momentum 0.9 (its own LR grid)
#   eps-width   the optimal LR across widths 16..128 (µP) for eps 1e-8, eps
#               1e-3, and eps 1e-3 divided by the width multiplier
#               (--eps-scaling), at batch 8
#   newton      two AdamW runs (seeds), stopped at steps 32, 256 and 1024; at each,
#               lrt hessian compares sqrt(v_hat) with |diag H|
#   sh experiments/batch.sh           (make reproduce-batch)  about 50 min of 2 free cores; 1h11m as run with
#                                     the cores shared (EXPERIMENTS.md)
#   sh experiments/batch.sh plan      write the sweeps' plans only (for a cluster)
# Outputs go to runs/batch/ (OUT=...). Rerunning resumes: finished runs are
# skipped, so the script can be killed and restarted at any point. The runs
# call a copy of the program, $OUT/lrt, made at the first start (delete it to
# pick up a new build); see experiments/horizon.sh for the same conventions.
set -e
LRT=${LRT:-./lrt}
OUT=${OUT:-runs/batch}
JOBS=${JOBS:-2}
STEP=${1:-all}
mkdir -p "$OUT"
if [ ! -x "$OUT/lrt" ]; then cp "$LRT" "$OUT/lrt.tmp" && mv "$OUT/lrt.tmp" "$OUT/lrt"; fi
RUN="$OUT/lrt"

# Shared by every run: the model (head dim 16, so width 32 has 2 heads), the
# data, no weight decay (the batch-size laws are about the noise of the
# gradient, not the equilibrium), 10% warmup then linear decay to 0, and one
# LR for the tensors that always use AdamW, so that the sweeps measure the
# hidden matrices' optimum.
COMMON="--depth 2 --head-dim 16 --seq-len 64 --val-batches 16 --val-every 0 --sample-length 0 \
--synth-train-tokens 1000000 --synth-val-tokens 65536 --adam-lr 0.01 --diverge-loss 7 --wd-mode none \
--warmup-fraction 0.1 --lr-decay linear --min-lr-fraction 0"
# 524288 tokens: 2048 steps at batch 4, 128 at batch 64. --grad-accum 2
# splits every batch in two, which gives the two-batch noise estimate.
BATCH="$COMMON --tokens 524288 --grad-accum 2 --measure-every 8"
BATCHES=batch-size=4,8,16,32,64
SEEDS=1,2
# Half-octave grids. The pilot (batch 16, one seed) put AdamW's optimum near
# 2^-6.5 at batch 4 and 2^-4.5 at 64, eps 1e-3's near 2^-4 at batch 16, and
# SGD's near 4 at batch 16 (loss 1.95 against 2.08 at 1 and 2.45 at 16).
# The first full run of SGD put batch 4's optimum on the grid's floor, 2^-1,
# so 2^-2.5 .. 2^-1.5 were added (finished runs kept).
ADAM_LRS=0.00390625,0.0055242717280199,0.0078125,0.011048543456039806,0.015625,0.022097086912079612,0.03125,0.044194173824159216,0.0625,0.088388347648318433,0.125,0.17677669529663687,0.25,0.35355339059327379,0.5
SGD_LRS=0.17677669529663687,0.25,0.35355339059327379,0.5,0.70710678118654757,1,1.4142135623730951,2,2.8284271247461903,4,5.6568542494923806,8,11.313708498984761,16,22.627416997969522,32

MUP32="--param mup --d-base 32"
cat > "$OUT/batch-adam.txt" <<CONFIGS
# name          lrt train flags
adamw           $MUP32
adamw-eps1e-3   $MUP32 --eps 1e-3
muon            $MUP32 --optimizer muon --muon-scale spectral
CONFIGS
printf 'sgd  %s --optimizer sgd --sgd-momentum 0.9\n' "$MUP32" > "$OUT/batch-sgd.txt"
MUP16="--param mup --d-base 16"
cat > "$OUT/eps-width.txt" <<CONFIGS
# name              lrt train flags
eps1e-8             $MUP16 --eps 1e-8
eps1e-3             $MUP16 --eps 1e-3
eps1e-3-scaled      $MUP16 --eps 1e-3 --eps-scaling
CONFIGS

ADAM="--dir $OUT/batch-adam --configs $OUT/batch-adam.txt --widths 32 --lrs $ADAM_LRS --seeds $SEEDS \
--axis $BATCHES --common \"$BATCH\" --lrt $RUN --jobs $JOBS"
SGD="--dir $OUT/batch-sgd --configs $OUT/batch-sgd.txt --widths 32 --lrs $SGD_LRS --seeds $SEEDS \
--axis $BATCHES --common \"$BATCH\" --lrt $RUN --jobs $JOBS"
EPS="--dir $OUT/eps-width --configs $OUT/eps-width.txt --widths 16,32,64,128 --lrs $ADAM_LRS --seeds $SEEDS \
--common \"$COMMON --batch-size 8 --steps 512 --measure-every 16\" --lrt $RUN --jobs $JOBS"

if [ "$STEP" = plan ]; then
    for s in "$ADAM" "$SGD" "$EPS"; do eval "$RUN sweep plan $s"; done
    exit 0
fi
eval "$RUN sweep $SGD --quiet"
eval "$RUN sweep $ADAM --quiet"
eval "$RUN sweep $EPS --quiet"

# Adam as approximate Newton: one run per seed near the optimum of batch 8,
# in three stages: each stage resumes the previous one's directory (bit for
# bit) into a directory of its own, made under a .tmp name and renamed when
# the stage is done, so a kill at any point leaves only whole stages and a
# restart redoes at most the one that was running. Then diag H at each stage's
# checkpoint (128 probes over 8 batches, about 20 s each).
NEWTON="$COMMON $MUP32 --width 32 --batch-size 8 --steps 1024 --lr 0.015625 --measure-every 0 --threads 1 --quiet"
for seed in 1 2; do
    N="$OUT/newton/s$seed"
    mkdir -p "$N"
    prev=""
    for stop in 32 256 1024; do
        if [ ! -f "$N/step$stop/checkpoint.safetensors" ]; then
            rm -rf "$N/step$stop.tmp"
            if [ -z "$prev" ]; then
                $RUN train $NEWTON --seed $seed --out-dir "$N/step$stop.tmp" --stop-after $stop
            else
                $RUN train --resume "$N/step$prev" --out-dir "$N/step$stop.tmp" --stop-after $stop --quiet
            fi
            mv "$N/step$stop.tmp" "$N/step$stop"
        fi
        if [ ! -f "$N/step$stop/hessian/hessian.csv" ]; then
            $RUN hessian --checkpoint "$N/step$stop" --probes 128 --batches 8 --threads "$JOBS" --quiet
        fi
        prev=$stop
    done
done
