#!/usr/bin/env bash
# The small-data ablation on the dev trials: one change at a time, each row adding one
# change of hparams/<system>_smalldata.yaml to the row above. Row 4 is the recipe as
# shipped; row 5 adds the option that is off in it (3 held-out speakers, EER selection).
# Every row: same data, encoder, loss, optimiser, schedule, epochs and seed.
#   scripts/run_smalldata_ablation.sh [SYSTEM=ecapa_am|res2net_am] [EPOCHS=12] [SEED=1986] [ROWS="0 1 2 3 4 5"]
# Row 0 (nothing added) is the demo recipe, hparams/<system>_demo.yaml, which equals the
# small-data file with every change switched off. Resumable (train.py resumes from its
# checkpoints; finished evaluations are reused). Table: results/smalldata_ablation_<system>_e<EPOCHS>/
set -euo pipefail
cd "$(dirname "$0")/.."
system=${1:-ecapa_am}; epochs=${2:-12}; seed=${3:-1986}; rows=${4:-"0 1 2 3 4 5"}
data=${DATA:-../shared/data/dev}
PY=$(scripts/ensure_env.sh)

names=(none crops speed masking noise heldout)
# switches of each change, off; row k switches on changes 1..k
# (change 5, selection on 3 held-out speakers, is off in the hparams file: row 5 switches it on)
off=("" "--min_crop_seconds=null" "--speeds=[100]" "--mask_prob=0.0"
     "--noise_prob=0.0 --babble_prob=0.0 --reverb_prob=0.0" "--valid_speakers=0")
on5="--valid_speakers=3"

experiment() {  # row -> experiment name
  if [ "$1" = 0 ]; then echo "${system}_demo_e${epochs}"; else echo "${system}_sd$1_${names[$1]}_e${epochs}"; fi
}

for row in $rows; do
  name=$(experiment "$row")
  if [ "$row" = 0 ]; then
    args=("hparams/${system}_demo.yaml")
  else
    args=("hparams/${system}_smalldata.yaml")
    for ((k = row + 1; k <= 5; k++)); do read -ra switch <<< "${off[$k]}"; args+=("${switch[@]}"); done
    if [ "$row" = 5 ]; then args+=("$on5"); fi
  fi
  echo "== row $row (${names[$row]}): $name ${args[*]:1}"
  "$PY" recipes/train.py "${args[@]}" --data_folder="$data" --number_of_epochs="$epochs" --seed="$seed" \
      --experiment_name="$name" --noprogressbar
  if ! ls exp/$name/$seed/eval/trials-*/results.json >/dev/null 2>&1; then
    "$PY" recipes/eval.py hparams/eval.yaml --experiment="exp/$name/$seed" --score_norm=none,as
  fi
done

folders=()
for row in 0 1 2 3 4 5; do
  name=$(experiment "$row")
  ls exp/$name/$seed/eval/trials-*/results.json >/dev/null 2>&1 && folders+=("exp/$name/$seed")
done
"$PY" recipes/compare.py "${folders[@]}" --name "smalldata_ablation_${system}_e${epochs}"
