#!/usr/bin/env bash
# make demo for several seeds, one after the other, then one table over all of them:
#   scripts/run_demo_seeds.sh [DEMO=exp/demo] [NAME=make_demo_smalldata_e12_seeds] [SEEDS="1986 1987 1988"]
# Each seed is a plain `make demo SEED=<seed> DEMO=<DEMO>` (its log: <DEMO>/logs/demo_seed<seed>.log,
# with its wall time); afterwards recipes/compare.py compares every system and seed
# (seed-averaged paired bootstrap) into results/<NAME>/, copying each run's metrics.jsonl
# (per epoch: seconds, parameters sha256, peak resident memory) and evaluation summary.
# Resumable: a finished training or evaluation is not repeated.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=${1:-exp/demo}; name=${2:-make_demo_smalldata_e12_seeds}; seeds=${3:-"1986 1987 1988"}
epochs=${DEMO_EPOCHS:-12}
PY=$(scripts/ensure_env.sh)
mkdir -p "$demo/logs"
folders=()
for seed in $seeds; do
  log="$demo/logs/demo_seed$seed.log"
  start=$(date +%s)
  make demo SEED="$seed" DEMO="$demo" DEMO_EPOCHS="$epochs" > "$log" 2>&1 \
    || { echo "error: make demo SEED=$seed failed; see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
  echo "[seeds] make demo SEED=$seed: $(( $(date +%s) - start )) s of wall time" | tee -a "$log"
  folders+=("$demo/res2net_am_smalldata_e$epochs/$seed" "$demo/ecapa_am_smalldata_e$epochs/$seed")
done
"$PY" recipes/compare.py "${folders[@]}" --name "$name"
"$PY" - "$demo" "$epochs" $seeds <<'EOF'
import json, os, sys
demo, epochs, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
for system in ("res2net_am", "ecapa_am"):
    for seed in seeds:
        path = os.path.join(demo, f"{system}_smalldata_e{epochs}", seed, "metrics.jsonl")
        records = [json.loads(line) for line in open(path)]
        seconds = sorted(r["train"]["seconds"] for r in records if r.get("train"))
        peak = max(r.get("peak_rss_gib", 0.0) for r in records)
        print(f"[seeds] {system} seed {seed}: {len(records)} epochs, median epoch {seconds[len(seconds) // 2]} s, "
              f"peak resident memory {peak:.2f} GiB")
EOF
