#!/usr/bin/env bash
# Train and evaluate Res2Net50-AM and the two ECAPA baselines on the dev set under the same
# rules (demo-size encoders, same data, crops, features, optimiser, schedule, seed and
# EPOCHS), then compare them. Resumable: rerunning continues from the last checkpoints.
#   scripts/run_dev_comparison.sh [EPOCHS] [SEED]      (log: exp/dev_comparison.log)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-12}; seed=${2:-1986}; data=${DATA:-../shared/data/dev}
PY=$(scripts/ensure_env.sh)
folders=()
for system in res2net_am ecapa_aam ecapa_am; do
  name="${system}_demo_e${epochs}"
  "$PY" recipes/train.py "hparams/${system}_demo.yaml" --data_folder="$data" --number_of_epochs="$epochs" \
      --seed="$seed" --experiment_name="$name" --noprogressbar
  "$PY" recipes/eval.py hparams/eval.yaml --experiment="exp/$name/$seed" --score_norm=none,as
  folders+=("exp/$name/$seed")
done
if [ -f recipes/compare.py ]; then
  "$PY" recipes/compare.py "${folders[@]}" --name "dev_demo_e${epochs}_seed${seed}"
fi
