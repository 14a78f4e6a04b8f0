#!/usr/bin/env bash
# make crossval: speaker-fold cross-validation (recipes/crossval.py) of Res2Net50-AM and ECAPA-AM
# with the same small-data recipe, on the same folds and trials, then their paired comparison:
#   scripts/run_crossval.sh DATA_FOLDER [EPOCHS=12] [SEED=1986] [FOLDS=4] [SUFFIX=]
# The two run side by side, one thread each (about 55 min on 2 cores for 4 folds x 12 epochs).
# Outputs: exp/crossval/results/<system>_smalldata_e<EPOCHS><SUFFIX>/ (crossval.md, .json, scores.txt)
# and exp/crossval/results/res2net_vs_ecapa_e<EPOCHS><SUFFIX>/comparison.md (committed runs: results/crossval/). Another seed needs
# another SUFFIX (a name holds one configuration). Resumable: rerun the same command.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1; epochs=${2:-12}; seed=${3:-1986}; folds=${4:-4}; suffix=${5:-}
PY=$(scripts/ensure_env.sh)
mkdir -p exp/crossval
start=$(date +%s)

crossval() {  # system
  local name="${1}_smalldata_e${epochs}${suffix}"
  OMP_NUM_THREADS=1 "$PY" recipes/crossval.py "hparams/${1}_smalldata.yaml" --data_folder "$data" --name "$name" \
      --output_root exp/crossval/results --folds "$folds" --number_of_epochs="$epochs" --seed="$seed" --noprogressbar > "exp/crossval/$name.out" 2>&1 \
    || { echo "error: cross-validating $1 failed; see exp/crossval/$name.out" >&2; tail -n 20 "exp/crossval/$name.out" >&2; return 1; }
  echo "[crossval] $1 done ($(( $(date +%s) - start )) s)"
}

crossval ecapa_am & ecapa=$!
crossval res2net_am & res2net=$!
status=0
wait $ecapa || status=1
wait $res2net || status=1
[ $status -eq 0 ] || exit $status
"$PY" recipes/crossval.py compare "exp/crossval/results/res2net_am_smalldata_e${epochs}${suffix}" \
    "exp/crossval/results/ecapa_am_smalldata_e${epochs}${suffix}" --name "res2net_vs_ecapa_e${epochs}${suffix}" \
    --output_root exp/crossval/results
