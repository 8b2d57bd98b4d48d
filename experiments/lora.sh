#!/bin/sh
# The LoRA experiments (EXPERIMENTS.md, "LoRA+: the adapters' learning-rate
# ratio across widths"), on the built-in corpus, depth 2, head dim 32:
#   bases     pretrain one model per width (64, 128, 256, 512) and seed (1, 2, 3):
#             µP, 1500 steps on the standard language (--synth-lexicon 0)
#   lora-plus fine-tune every base with rank-8 adapters on every matrix, on a
#             language with the same grammar and another lexicon
#             (--synth-lexicon 1: new words to learn), sweeping B's LR and
#             LoRA+'s ratio lambda (B's LR over A's: A trains at lr / lambda,
#             --lora-lr-anchor b); seed s fine-tunes base s
#   ga        the same with LoRA-GA's init, lambda = 1 and 16
#   full      full fine-tuning (every tensor trains), its own LR grid
#   sh experiments/lora.sh           (make reproduce-lora)  see EXPERIMENTS.md for the time it took
#   sh experiments/lora.sh bases     pretrain the bases only
#   sh experiments/lora.sh plan      write the sweeps' plans only (for a cluster; the bases come first)
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
    for w in 512 256 128 64; do  # widest first, so that the jobs end together
        for s in $SEEDS; do
            echo "$RUN train $BASE --width $w --seed $s --out-dir $OUT/bases/w${w}_s$s --quiet --skip-if-done --if-exists resume --threads 1"
        done
    done > "$OUT/bases.txt"
    xargs -P "$JOBS" -I{} sh -c '{}' < "$OUT/bases.txt"
}

# Fine-tuning: the built-in corpus with lexicon 1 (the same grammar, other
# words), batch 8, 150 steps (77k tokens), 10% warmup then linear decay to
# 0, no weight decay, clipping at 1. Rank 8, alpha 16 (scale 2), adapters on
# every matrix. B trains at the swept --lr and A at lr / lambda
# (--lora-lr-anchor b): in the pilot (one seed, widths 64 and 256, lambda
# 1/4 ... 64) the best A LR moved 6.5 octaves across lambda and the best B
# LR 2.5, so one grid of B's LR serves every lambda.
FT="$SHAPE --synth-lexicon 1 --data-seed 2 --synth-train-tokens 200000 --batch-size 8 --steps 150 --warmup-fraction 0.1 \
--lr-decay linear --min-lr-fraction 0 --weight-decay 0 --val-every 0"
LORA="--lora-rank 8 --lora-alpha 16 --lora-lr-anchor b"
echo "std  $LORA" > "$OUT/lora-plus.txt"
echo "ga   $LORA --lora-init ga" > "$OUT/ga.txt"
echo "full --lora-rank 0" > "$OUT/full.txt"
# lambda from 1/16 to 64 in steps of 4: the pilot's best lambda was about 3
# at width 64 and at or below 1/4 at width 256, with losses within 0.02
# nats across lambda; LoRA+ recommends about 16
RATIOS=lora-plus-ratio=0.0625,0.25,1,4,16,64
# B's LR, 2^-9 ... 2^-2 in whole octaves (the pilot's optima: 2^-7.2 ... 2^-4.2)
LORA_LRS=0.001953125,0.00390625,0.0078125,0.015625,0.03125,0.0625,0.125,0.25
# full fine-tuning: every tensor at --lr (µP's width multipliers apply), 2^-12 ... 2^-5
FULL_LRS=0.000244140625,0.00048828125,0.0009765625,0.001953125,0.00390625,0.0078125,0.015625,0.03125
GRID="--seeds 1,2,3 --finetune-from $OUT/bases/w{width}_s{seed} --common \"$FT\" --lrt $RUN --jobs $JOBS"
PLUS="--dir $OUT/lora-plus --configs $OUT/lora-plus.txt --lrs $LORA_LRS --axis $RATIOS --widths 64,128,256,512 $GRID"
# LoRA-GA and full fine-tuning at widths 64-256 only: width 512's runs take
# 20 s each here, and the sweeps would not have ended in the session's time
# (cut before any of their results existed)
GA="--dir $OUT/ga --configs $OUT/ga.txt --lrs $LORA_LRS --axis lora-plus-ratio=1,16 --widths 64,128,256 $GRID"
FULL="--dir $OUT/full --configs $OUT/full.txt --lrs $FULL_LRS --widths 64,128,256 $GRID"

if [ "$STEP" = plan ]; then
    for s in "$PLUS" "$GA" "$FULL"; do eval "$RUN sweep plan $s"; done
    exit 0
fi
if [ "$STEP" = all ] || [ "$STEP" = bases ]; then pretrain; fi
if [ "$STEP" = bases ]; then exit 0; fi
eval "$RUN sweep $PLUS --quiet"
eval "$RUN sweep $GA --quiet"
eval "$RUN sweep $FULL --quiet"

# LoRA-GA against the standard init at the same ratio, each at its own best
# LR (the seed-averaged curve's best grid LR, optimum.csv), seed by seed
# (seed s fine-tunes base s in both): the target is the standard run's final
# loss, the mean training loss over its last 15 steps (every batch is new
# text, so the training loss is a fair estimate of the expected loss); a
# run's steps to target is the last step of the first 15-step window whose
# mean is at or below it (the standard run's own is at most its last step).
# window_means prints "step mean" per window; rows without a training loss
# (the final validation row) are skipped; %.17g keeps the doubles exact;
# n starts at 0 explicitly (awk's unset n would be the key "", not 0).
window_means() {
    awk -F, 'BEGIN {n = 0} NR > 1 && $4 != "" {s[n] = $1; l[n] = $4 + 0; n++;
        if (n >= 15) {m = 0; for (i = n - 15; i < n; i++) m += l[i]; printf "%s %.17g\n", s[n - 1], m / 15}}' "$1"
}
first_at_target() {  # log.csv, target: "first step,final window mean" ("never" if not reached)
    window_means "$1" | awk -v t="$2" '$2 + 0 <= t + 0 && f == "" {f = $1} {last = $2}
        END {printf "%s,%.6f", (f == "" ? "never" : f), last}'
}
steps_to_target() {  # writes ga_vs_standard.csv
    echo "ratio,width,seed,std_lr,ga_lr,target,std_steps,ga_steps,ga_final" > "$OUT/ga_vs_standard.csv.tmp"
    for ratio in 1 16; do
        for w in 64 128 256; do
            slr=$(awk -F, -v c="std+lora-plus-ratio=$ratio" -v w=$w '$1==c && $2==w {print $3}' "$OUT/lora-plus/optimum.csv")
            glr=$(awk -F, -v c="ga+lora-plus-ratio=$ratio" -v w=$w '$1==c && $2==w {print $3}' "$OUT/ga/optimum.csv")
            for s in 1 2 3; do
                std="$OUT/lora-plus/runs/std+lora-plus-ratio=${ratio}_w${w}_lr${slr}_s$s/log.csv"
                ga="$OUT/ga/runs/ga+lora-plus-ratio=${ratio}_w${w}_lr${glr}_s$s/log.csv"
                target=$(window_means "$std" | tail -1 | cut -d' ' -f2)
                sr=$(first_at_target "$std" "$target")
                gr=$(first_at_target "$ga" "$target")
                printf '%s,%s,%s,%s,%s,%.6f,%s,%s\n' $ratio $w $s $slr $glr $target "${sr%,*}" "$gr" \
                    >> "$OUT/ga_vs_standard.csv.tmp"
            done
        done
    done
    mv "$OUT/ga_vs_standard.csv.tmp" "$OUT/ga_vs_standard.csv"
    cat "$OUT/ga_vs_standard.csv"
}
steps_to_target
