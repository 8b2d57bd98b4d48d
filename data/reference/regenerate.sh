#!/bin/sh
# Regenerates the committed reference states (run from the repository root:
# `make reference`). Two small configs x three AdamW settings:
#   sp               standard parameterization (fan-in init), coupled weight decay 0.1
#   mup-coupled      µP, coupled weight decay 0.1 (PyTorch AdamW: decay follows each tensor's LR)
#   mup-independent  µP, independent weight decay 1e-3 (= lr x 0.1: the same decay at every width)
# and, on the small config, the other optimizers of the hidden matrices (the
# rest stays on AdamW at --adam-lr) and spectral-norm decay:
#   muon-keller-sp           SP, Muon with Keller Jordan's scale sqrt(max(1, out/in))
#   muon-spectral-mup        µP, Muon with the spectral scale sqrt(out/in)
#   muon-moonlight-mup       µP, Muon with Moonlight's 0.2 sqrt(max(out, in)) (and µP's 1/m)
#   muon-wdspectral-mup      µP, Muon (spectral scale) with spectral-norm weight decay
#   adamw-wdspectral-mup     µP, AdamW with spectral-norm weight decay
#   sgd-mup                  µP, SGD with Nesterov momentum
# and two with LoRA adapters (only the adapters train; B starts from
# N(0, 0.02^2), not 0, so that A's gradient is not 0):
#   w16_lora-mup             µP, AdamW, rank 2, alpha 4 (scale 2), every matrix, LoRA+ ratio 4
#   w32_lora-sp              SP with biases, AdamW, rank 4, alpha 8, attn.c_attn and mlp.c_fc only, LoRA+ ratio 16
# tests/test_reference.cpp checks that regenerating each file gives the same bytes.
set -e
LRT=${LRT:-./lrt}
DIR=data/reference
# w32: width 32 over base 16 (m = 2), 2 blocks, d_head 8, vocab 64, biases
W32="--width 32 --d-base 16 --depth 2 --head-dim 8 --vocab-size 64 --batch-size 2 --seq-len 8 --steps 3 --lr 0.01"
# w16: width 16 over base 4 (m = 4), 1 block, d_head 4, vocab 32, no biases
W16="--width 16 --d-base 4 --depth 1 --head-dim 4 --vocab-size 32 --no-bias --batch-size 2 --seq-len 8 --steps 3 --lr 0.01"
for cfg in w32 w16; do
    if [ $cfg = w32 ]; then FLAGS=$W32; else FLAGS=$W16; fi
    $LRT reference $FLAGS --param sp --wd-mode coupled --weight-decay 0.1 --out $DIR/${cfg}_sp.safetensors
    $LRT reference $FLAGS --param mup --wd-mode coupled --weight-decay 0.1 --out $DIR/${cfg}_mup-coupled.safetensors
    $LRT reference $FLAGS --param mup --wd-mode independent --weight-decay 0.001 --out $DIR/${cfg}_mup-independent.safetensors
done
MUON="$W16 --adam-lr 0.01 --lr 0.05 --optimizer muon --wd-mode coupled --weight-decay 0.1"
$LRT reference $MUON --param sp --muon-scale keller --out $DIR/w16_muon-keller-sp.safetensors
$LRT reference $MUON --param mup --muon-scale spectral --out $DIR/w16_muon-spectral-mup.safetensors
$LRT reference $MUON --param mup --muon-scale moonlight --out $DIR/w16_muon-moonlight-mup.safetensors
$LRT reference $MUON --param mup --muon-scale spectral --wd-norm spectral --out $DIR/w16_muon-wdspectral-mup.safetensors
$LRT reference $W16 --param mup --wd-mode coupled --weight-decay 0.1 --wd-norm spectral --spectral-iters 2 \
    --out $DIR/w16_adamw-wdspectral-mup.safetensors
$LRT reference $W16 --adam-lr 0.01 --lr 0.2 --param mup --optimizer sgd --sgd-momentum 0.9 --sgd-nesterov \
    --wd-mode coupled --weight-decay 0.1 --out $DIR/w16_sgd-mup.safetensors
$LRT reference $W16 --param mup --wd-mode coupled --weight-decay 0.1 --lora-rank 2 --lora-alpha 4 --lora-plus-ratio 4 \
    --out $DIR/w16_lora-mup.safetensors
$LRT reference $W32 --param sp --wd-mode coupled --weight-decay 0.1 --lora-rank 4 --lora-alpha 8 \
    --lora-targets attn.c_attn,mlp.c_fc --lora-plus-ratio 16 --out $DIR/w32_lora-sp.safetensors
