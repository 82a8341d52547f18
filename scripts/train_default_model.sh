#!/usr/bin/env bash
# Reproduce the shipped default model (src/dsdn/default_model) from scratch on a CPU (about 9 hours on 2 cores):
# the tiny SD-format base on toy world v3, DSDN on top of it, a fine-tune with the content stream's sampling
# prior, the base's UNet trained further, a fine-tune on it, then the sampling sweep and the toy-world evaluation.
#   bash scripts/train_default_model.sh            # writes outputs/, then copies the model into the package
# Run it in the background on a small machine:  nohup bash scripts/train_default_model.sh > train.log 2>&1 &
# Every stage resumes from its checkpoints: run it again after an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs}
WORLD=(--toy-world v3)
resume() { [ -d "$1" ] && echo --resume || true; }

# 1. The base: the VAE (3,000 steps), then the text encoder and UNet2D with Min-SNR-γ 5 (3,000 steps).
dsdn train base --out "$OUT/default-base" --seed 0 "${WORLD[@]}" --vae-steps 3000 --unet-steps 3000 --unet-lr 1e-3 \
    --snr-gamma 5 $(resume "$OUT/default-base/checkpoints-vae")
# 2. DSDN: a 3,500-step cosine schedule, stopped at step 2,500 (its model/ holds the EMA weights there).
dsdn train video --base "$OUT/default-base" --out "$OUT/runs/default-dsdn" --preset tiny --seed 0 "${WORLD[@]}" \
    --steps 3500 --stop-at 2500 --batch-size 4 --lr 1e-3 --warmup-steps 100 --ema-decay 0.995 \
    --toy-clips 4000 --checkpoint-every 250 --validate-every 500 --contrast-weight 0.05 $(resume "$OUT/runs/default-dsdn")
# 3. 500 more steps from it, the content stream trained on the prior and attention it samples with.
dsdn train video --base "$OUT/default-base" --out "$OUT/runs/default-dsdn-ft" --preset tiny --seed 0 "${WORLD[@]}" \
    --steps 500 --batch-size 4 --lr 5e-4 --warmup-steps 50 --ema-decay 0.995 --toy-clips 4000 \
    --checkpoint-every 100 --validate-every 500 --contrast-weight 0.05 --init-from "$OUT/runs/default-dsdn/model" \
    --shared-noise 0.8 --cross-frame-attention $(resume "$OUT/runs/default-dsdn-ft")
# 4. The base's UNet, 3,000 more steps with its text encoder as it is (the DSDN keeps the caption states it
#    learned with); it then draws the asked digit far more often. 500 DSDN steps on that base.
dsdn train base --out "$OUT/default-base-more" --seed 0 "${WORLD[@]}" --init-from "$OUT/default-base" --freeze-text \
    --unet-steps 3000 --unet-lr 5e-4 --snr-gamma 5 $(resume "$OUT/default-base-more/checkpoints-unet")
dsdn train video --base "$OUT/default-base-more" --out "$OUT/runs/default-dsdn-ft2" --preset tiny --seed 1 "${WORLD[@]}" \
    --steps 500 --batch-size 4 --lr 5e-4 --warmup-steps 50 --ema-decay 0.995 --toy-clips 4000 \
    --checkpoint-every 100 --validate-every 500 --contrast-weight 0.05 --init-from "$OUT/runs/default-dsdn-ft/model" \
    --shared-noise 0.8 --cross-frame-attention $(resume "$OUT/runs/default-dsdn-ft2")

dest=src/dsdn/default_model
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/training"
cp -r "$OUT/runs/default-dsdn-ft2/model/." "$dest.tmp/"
logs=docs/default-model  # what the runs printed and measured: in the repository, not in the package
mkdir -p "$logs"
cp "$OUT/default-base/train_log.jsonl" "$logs/base_train_log.jsonl"
cp "$OUT/default-base/dsdn_train_base.json" "$dest.tmp/training/base_run.json"
cp "$OUT/runs/default-dsdn/metrics.jsonl" "$logs/video_metrics.jsonl"
cp "$OUT/runs/default-dsdn/run.json" "$dest.tmp/training/video_run.json"
cp "$OUT/runs/default-dsdn-ft/metrics.jsonl" "$logs/finetune_metrics.jsonl"
cp "$OUT/runs/default-dsdn-ft/run.json" "$dest.tmp/training/finetune_run.json"
cp "$OUT/default-base-more/train_log.jsonl" "$logs/base_more_train_log.jsonl"
cp "$OUT/default-base-more/dsdn_train_base.json" "$dest.tmp/training/base_more_run.json"
cp "$OUT/runs/default-dsdn-ft2/metrics.jsonl" "$logs/finetune2_metrics.jsonl"
cp "$OUT/runs/default-dsdn-ft2/run.json" "$dest.tmp/training/finetune2_run.json"
[ -f "$dest/MODEL_CARD.md" ] && cp "$dest/MODEL_CARD.md" "$dest.tmp/"
rm -rf "$dest" && mv "$dest.tmp" "$dest"

# 5. The sampling defaults: early steps chosen on selection prompts (the other settings: docs/experiments/).
[ -f "$OUT/judge-v3/judge_config.json" ] || dsdn eval train-judge "${WORLD[@]}" --out "$OUT/judge-v3"
dsdn eval sweep --model "$dest" --judge "$OUT/judge-v3" --combiners least_squares --gammas 0.5 --syncs 1 \
    --shared-noises 0.8 --carry-froms 0.8 --early-coherences 0.75 --early-untils 0,0.2 --motion-guidances 15 \
    --guidances 7.5 --prompts 96 --write | tee "$logs/sampling_choice.txt"
# ... and the number of steps: 15 is as clean as 25 on the selection prompts (10 is not); --write stores it.
dsdn eval sweep --model "$dest" --judge "$OUT/judge-v3" --combiners least_squares --gammas 0.5 --syncs 1 \
    --shared-noises 0.8 --carry-froms 0.8 --early-coherences 0.75 --early-untils 0.2 --motion-guidances 15 \
    --guidances 7.5 --prompts 96 --steps 15 --write | tee "$logs/sampling_steps.txt"
# 6. The model card's figures.
dsdn eval toy --model "$dest" --prompts 96 --heldout-prompts 12 --judge "$OUT/judge-v3" --json "$logs/toy_eval.json"
