#!/usr/bin/env bash
# Reproduce the shipped default model (src/dsdn/default_model) from scratch on a CPU:
# the tiny SD-format base, then DSDN on top of it, then the toy-world evaluation.
#   bash scripts/train_default_model.sh            # writes outputs/, then copies the model into the package
# Run it in the background on a small machine:  nohup bash scripts/train_default_model.sh > train.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs}
VIDEO_STEPS=${VIDEO_STEPS:-3500}

dsdn train base --out "$OUT/tiny-base" --seed 0 --vae-steps 3000 --unet-steps 6000
dsdn train video --base "$OUT/tiny-base" --out "$OUT/runs/dsdn-tiny" --preset tiny --seed 0 \
    --steps "$VIDEO_STEPS" --batch-size 4 --lr 1e-3 --warmup-steps 100 --ema-decay 0.995 \
    --toy-clips 4000 --checkpoint-every 250 --validate-every 500 --contrast-weight 0.05

dest=src/dsdn/default_model
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/training"
cp -r "$OUT/runs/dsdn-tiny/model/." "$dest.tmp/"
logs=docs/default-model  # what the runs printed and measured: in the repository, not in the package
mkdir -p "$logs"
cp "$OUT/tiny-base/train_log.jsonl" "$logs/base_train_log.jsonl"
cp "$OUT/tiny-base/dsdn_train_base.json" "$dest.tmp/training/base_run.json"
cp "$OUT/runs/dsdn-tiny/metrics.jsonl" "$logs/video_metrics.jsonl"
cp "$OUT/runs/dsdn-tiny/run.json" "$dest.tmp/training/video_run.json"
[ -f "$dest/MODEL_CARD.md" ] && cp "$dest/MODEL_CARD.md" "$dest.tmp/"
rm -rf "$dest" && mv "$dest.tmp" "$dest"

dsdn eval sweep --model "$dest" --prompts 32 --write | tee "$logs/sampling_choice.txt"
[ -f "$OUT/judge/judge_config.json" ] || dsdn eval train-judge --out "$OUT/judge"
dsdn eval toy --model "$dest" --prompts 96 --heldout-prompts 12 --judge "$OUT/judge" --json "$logs/toy_eval.json"
