# Sourced by the joint-training scripts (run_joint_crossval.sh, run_large_margin_crossval.sh):
# dsp20's prepared folder, checked, and the recipes/crossval.py arguments that add its 14
# training speakers to every fold's training set and score every fold on its 10 test speakers.
dsp20=exp/cross/dsp20_data
[ -f "$dsp20/train.csv" ] || { echo "error: $dsp20 not found: run scripts/run_cross_corpus.sh first (it prepares dsp20)" >&2; exit 2; }
joint_data_args=(--extra_train "$dsp20/train.csv" --extra_train "$dsp20/valid.csv" --extra_test "$dsp20")
