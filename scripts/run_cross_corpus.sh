#!/usr/bin/env bash
# Cross-corpus rows (issue 16): the small-data recipe trained on one corpus and scored on the
# other corpus's unseen speakers, the no-learning floor of each trial list a row:
#   scripts/run_cross_corpus.sh [SEED=1986] [EPOCHS=12]
# - dev: ../shared/data/dev with its official trials (6 test speakers), prepared as make demo
#   does; its models are make demo's (exp/demo/<system>_smalldata_e<EPOCHS>/<SEED>), trained
#   here first if missing.
# - dsp20: ../shared/data/dsp20 (24 speakers, Mandarin and English words, FLAC) prepared with
#   10 test speakers (exp/cross/dsp20_data: train/valid/test.csv, 6000 trials); its models are
#   trained with the same recipe into exp/cross/<system>_smalldata_dsp20_e<EPOCHS>/<SEED>.
# Two trainings run side by side at one thread each. Tables: results/cross_corpus_on_dev_seed<SEED>/
# and results/cross_corpus_on_dsp20_seed<SEED>/. Resumable: finished trainings and evaluations are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-1986}; epochs=${2:-12}
PY=$(scripts/ensure_env.sh)
mkdir -p exp/cross
[ -f exp/demo/data/trials.txt ] || "$PY" recipes/prepare.py --source ../shared/data/dev/wav --format folder \
    --trials ../shared/data/dev/trials.txt --output exp/demo/data --overwrite
[ -f exp/cross/dsp20_data/trials.txt ] || "$PY" recipes/prepare.py --source ../shared/data/dsp20/audio --format folder \
    --test_speakers 10 --min_seconds 0.5 --seed "$seed" --output exp/cross/dsp20_data

train() {  # system, data folder, experiment name, output folder
  OMP_NUM_THREADS=1 "$PY" recipes/train.py "hparams/$1_smalldata.yaml" --data_folder="$2" --number_of_epochs="$epochs" \
      --seed="$seed" --experiment_name="$3" --output_folder="$4" --noprogressbar > "$4.train.out" 2>&1 \
    || { echo "error: training $4 failed; see $4.train.out" >&2; tail -n 20 "$4.train.out" >&2; return 1; }
}
train_both() {  # data folder, experiment-name suffix, parent folder: both systems side by side
  local pids=() system
  for system in res2net_am ecapa_am; do
    mkdir -p "$3/${system}_smalldata$2_e$epochs"
    train "$system" "$1" "${system}_smalldata$2_e$epochs" "$3/${system}_smalldata$2_e$epochs/$seed" & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}
train_both exp/demo/data "" exp/demo
train_both exp/cross/dsp20_data _dsp20 exp/cross

runs=("exp/demo/res2net_am_smalldata_e$epochs/$seed" "exp/demo/ecapa_am_smalldata_e$epochs/$seed"
      "exp/cross/res2net_am_smalldata_dsp20_e$epochs/$seed" "exp/cross/ecapa_am_smalldata_dsp20_e$epochs/$seed")
for target in dev dsp20; do
  data=exp/demo/data; [ "$target" = dsp20 ] && data=exp/cross/dsp20_data
  "$PY" recipes/compare.py "${runs[@]}" --trials "$data/trials.txt" --test_annotation "$data/test.csv" \
      --data_folder "$data" --name "cross_corpus_on_${target}_seed$seed"
done
