#!/usr/bin/env bash
# Fine-tuning, cross-validated (issue 16): a model trained on dsp20's 14 training speakers
# (scripts/run_cross_corpus.sh: exp/cross/<system>_smalldata_dsp20_e12/<seed>) starts every fold's
# training on the dev speakers: 1 epoch with the encoder frozen (the new head alone), then all
# layers at half the learning rate, 8 epochs in all. Same folds and trials as make crossval, so
# `recipes/crossval.py compare` pairs it with training from scratch. Every fold's model is also
# scored on dsp20's 10 test speakers (--extra_test). The settings were fixed before any run.
#   scripts/run_finetune_crossval.sh SYSTEM [SEED=1986] [DATA=../shared/data/dev]
set -euo pipefail
cd "$(dirname "$0")/.."
system=$1; seed=${2:-1986}; data=${3:-../shared/data/dev}
PY=$(scripts/ensure_env.sh)
pretrained="exp/cross/${system}_smalldata_dsp20_e12/$seed"
[ -d "$pretrained/save" ] || { echo "error: $pretrained not found: run scripts/run_cross_corpus.sh first" >&2; exit 2; }
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$PY" recipes/crossval.py "hparams/${system}_smalldata.yaml" --data_folder "$data" \
    --name "${system}_finetune_dsp20_e8" --output_root "${OUTPUT_ROOT:-exp/crossval/results}" \
    --extra_test exp/cross/dsp20_data --init_from="$pretrained" --freeze_encoder_epochs=1 \
    --lr=0.0005 --final_lr=0.00005 --number_of_epochs=8 --seed="$seed" --noprogressbar
