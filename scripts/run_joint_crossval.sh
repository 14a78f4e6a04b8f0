#!/usr/bin/env bash
# Joint training, cross-validated (issue 16): every dev fold's training set gets all 1400
# utterances of dsp20's 14 training speakers besides the dev training speakers (30-31 speakers,
# one concatenated training set; --balance_corpora=True is the option not taken here), 12
# epochs of the small-data recipe. Same folds and trials as make crossval, so
# `recipes/crossval.py compare` pairs it with dev-only training; every fold's model is also
# scored on dsp20's 10 test speakers, never trained on. Settings fixed before any run.
#   scripts/run_joint_crossval.sh SYSTEM [SEED=1986] [DATA=../shared/data/dev]
set -euo pipefail
cd "$(dirname "$0")/.."
system=$1; seed=${2:-1986}; data=${3:-../shared/data/dev}
PY=$(scripts/ensure_env.sh)
source scripts/joint_training_data.sh
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$PY" recipes/crossval.py "hparams/${system}_smalldata.yaml" --data_folder "$data" \
    --name "${system}_joint_dsp20_e12" --output_root "${OUTPUT_ROOT:-exp/crossval/results}" \
    "${joint_data_args[@]}" \
    --number_of_epochs=12 --seed="$seed" --noprogressbar
