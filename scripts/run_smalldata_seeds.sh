#!/usr/bin/env bash
# The shipped small-data recipe, hparams/<system>_smalldata.yaml as it is (row 4 of the
# ablation: crops, speed classes, masking, noise/babble/reverb, all 16 speakers), trained and
# evaluated once per seed, so that systems are compared over seeds and not on one run:
#   scripts/run_smalldata_seeds.sh [SYSTEM=res2net_am|ecapa_am|ecapa_aam] [EPOCHS=12] [SEEDS="1986 1987"]
# Runs land in exp/<system>_sd4_noise_e<EPOCHS>/<seed>/ (the ablation's row-4 folders, so an
# ablation run is reused). Resumable: train.py resumes from its checkpoints and finished
# evaluations are kept. Compare the folders afterwards with recipes/compare.py (it groups
# the seeds of one system and compares seed-averaged EERs with a paired bootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
system=${1:-res2net_am}; epochs=${2:-12}; seeds=${3:-"1986 1987"}
data=${DATA:-../shared/data/dev}
PY=$(scripts/ensure_env.sh)
name="${system}_sd4_noise_e${epochs}"
for seed in $seeds; do
  echo "== $name seed $seed"
  "$PY" recipes/train.py "hparams/${system}_smalldata.yaml" --data_folder="$data" --number_of_epochs="$epochs" \
      --seed="$seed" --experiment_name="$name" --noprogressbar
  if ! ls exp/$name/$seed/eval/trials-*/results.json >/dev/null 2>&1; then
    "$PY" recipes/eval.py hparams/eval.yaml --experiment="exp/$name/$seed" --score_norm=none,as
  fi
done
