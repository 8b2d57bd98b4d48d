#!/bin/sh
# The LoRA experiments (EXPERIMENTS.md, "LoRA+: the adapters' learning-rate
# ratio across widths"), on the built-in corpus, depth 2, head dim 32:
#   bases     pretrain one model per width (64, 128, 256) and seed (1, 2, 3):
#             µP, 1500 steps on the standard language (--synth-lexicon 0)
#   lora-plus fine-tune every base with rank-8 adapters on every matrix, on a
#             language with the same grammar and another lexicon
#             (--synth-lexicon 1: new words to learn), sweeping A's LR and
#             LoRA+'s ratio lambda (B's LR over A's); seed s fine-tunes base s
#   ga        the same with LoRA-GA's init, lambda = 1 and 16
#   full      full fine-tuning (every tensor trains), its own LR grid
#   sh experiments/lora.sh           (make reproduce-lora)  see EXPERIMENTS.md for the time it took
#   sh experiments/lora.sh plan      write the sweeps' plans only (needs the bases for nothing)
# Outputs go to runs/lora/ (OUT=...). Rerunning resumes: finished runs are
# skipped, so the script can be killed and restarted at any point. The runs
# call a copy of the program, $OUT/lrt, made at the first start (delete it to
# pick up a new build); see experiments/horizon.sh for the same conventions.
set -e
LRT=${LRT:-./lrt}
OUT=${OUT:-runs/lora}
JOBS=${JOBS:-2}
STEP=${1:-all}
mkdir -p "$OUT"
if [ ! -x "$OUT/lrt" ]; then cp "$LRT" "$OUT/lrt.tmp" && mv "$OUT/lrt.tmp" "$OUT/lrt"; fi
RUN="$OUT/lrt"
WIDTHS="64 128 256"
SEEDS="1 2 3"

# Shared by every run: the model shape and the data sizes.
SHAPE="--depth 2 --head-dim 32 --seq-len 64 --sample-length 0 --synth-train-tokens 2000000 \
--synth-val-tokens 65536 --val-batches 16 --measure-every 0"
# Pretraining: µP with its base at width 64, 10% warmup then linear decay
# to 0, no weight decay; the hidden LR near µP's optimum on this corpus
# (EXPERIMENTS.md's horizon experiment), the other tensors at 0.01.
BASE="$SHAPE --param mup --d-base 64 --lr 0.03 --adam-lr 0.01 --wd-mode none --warmup-fraction 0.1 \
--lr-decay linear --min-lr-fraction 0 --batch-size 16 --steps 1500 --val-every 0"

pretrain() {
    for w in 256 128 64; do  # widest first, so that the jobs end together
        for s in $SEEDS; do
            echo "$RUN train $BASE --width $w --seed $s --out-dir $OUT/bases/w${w}_s$s --quiet --skip-if-done --if-exists resume --threads 1"
        done
    done > "$OUT/bases.txt"
    xargs -P "$JOBS" -I{} sh -c '{}' < "$OUT/bases.txt"
}

if [ "$STEP" = all ] || [ "$STEP" = bases ]; then pretrain; fi
