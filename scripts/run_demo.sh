#!/usr/bin/env bash
# make demo: train Res2Net50-AM and ECAPA-AM with the same small-data recipe
# (hparams/<system>_smalldata.yaml, EPOCHS epochs), evaluate both on the trials (EER, minDCF,
# AS-norm) and compare them, the no-learning floor a row of the table:
#   scripts/run_demo.sh DATA_FOLDER [SEED=1986] [EPOCHS=12] [DEMO=exp/demo]
# On a 2-core CPU the two trainings run side by side, one thread each (two one-thread
# processes do more work than one two-thread process); ECAPA's evaluation runs while
# Res2Net50 is still training. Outputs: $DEMO/<system>/<seed>/ (train_log.txt,
# metrics.jsonl, eval/trials-<hash>/) and $DEMO/results/demo_seed<seed>/comparison.md.
# Resumable: a finished training is not repeated (train.py resumes from its checkpoints).
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1; seed=${2:-1986}; epochs=${3:-12}; demo=${4:-exp/demo}
PY=$(scripts/ensure_env.sh)
start=$(date +%s)

train_and_eval() {  # system, training threads, evaluation threads
  local system=$1 threads=$2 eval_threads=$3 name="${1}_smalldata_e${epochs}"
  local out="$demo/$name/$seed"
  mkdir -p "$out"
  OMP_NUM_THREADS=$threads "$PY" recipes/train.py "hparams/${system}_smalldata.yaml" --data_folder="$data" \
      --number_of_epochs="$epochs" --seed="$seed" --experiment_name="$name" --output_folder="$out" \
      --noprogressbar > "$demo/$name.$seed.train.out" 2>&1 \
    || { echo "error: training $system failed; see $demo/$name.$seed.train.out" >&2; tail -n 20 "$demo/$name.$seed.train.out" >&2; return 1; }
  echo "[demo] $system trained ($(( $(date +%s) - start )) s)"
  OMP_NUM_THREADS=$eval_threads "$PY" recipes/eval.py hparams/eval.yaml --experiment="$out" --score_norm=none,as \
      > "$demo/$name.$seed.eval.out" 2>&1 \
    || { echo "error: evaluating $system failed; see $demo/$name.$seed.eval.out" >&2; tail -n 20 "$demo/$name.$seed.eval.out" >&2; return 1; }
  echo "[demo] $system evaluated ($(( $(date +%s) - start )) s)"
}

train_and_eval ecapa_am 1 1 & ecapa=$!
train_and_eval res2net_am 1 2 & res2net=$!   # ECAPA is done by the time Res2Net50 evaluates
status=0
wait $ecapa || status=1
wait $res2net || status=1
[ $status -eq 0 ] || exit $status
"$PY" recipes/compare.py "$demo/res2net_am_smalldata_e${epochs}/$seed" "$demo/ecapa_am_smalldata_e${epochs}/$seed" \
    --name "demo_seed$seed" --output_root "$demo/results"
echo "[demo] done in $(( $(date +%s) - start )) s: $demo/results/demo_seed$seed/comparison.md"
