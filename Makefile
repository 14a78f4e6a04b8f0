# Two commands set everything up on a fresh machine:
#   make demo   on the dev data ($(DATA)): prepare, train Res2Net50 + AM-Softmax and ECAPA-TDNN +
#               AM-Softmax with the small-data recipe, evaluate both on the trials (EER, minDCF),
#               compare them with the no-learning floor as a row
#   make test   run the test suite
# The Python environment is built once from requirements.txt under ~/.cache/res2net-sv/.

DATA ?= ../shared/data/dev
PY = $(shell scripts/ensure_env.sh)
PYTEST_ARGS ?= -q

.PHONY: env lint format test demo crossval bench bench-encoders bench-metrics ablation seeds learning-curve

env:
	@scripts/ensure_env.sh >/dev/null && echo "environment: $$(scripts/ensure_env.sh)"

# lint: ruff (pyproject.toml) checks and the ruff format of every file; make format applies it
lint: env
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: env
	$(PY) -m ruff format .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# make demo: prepare -> train Res2Net50-AM and ECAPA-AM with the same small-data recipe
# (hparams/*_smalldata.yaml, $(DEMO_EPOCHS) epochs, side by side, one thread each) -> evaluate
# both (EER, minDCF, AS-norm) -> compare, the no-learning floor a row of the table
# (scripts/run_demo.sh). About 15 minutes on 2 cores.
# The dev folder ships audio under wav/<speaker>/ and its official trials.txt: prepare.py
# re-validates the audio and rebuilds the CSVs with the trial speakers as the test set.
# A DATA folder without wav/ + trials.txt is taken as already prepared (train.csv, test.csv, trials.txt).
DEMO = exp/demo
SEED ?= 1986
DEMO_EPOCHS ?= 12
demo: env
	@if [ ! -f "$(DATA)/train.csv" ] && [ ! -d "$(DATA)/wav" ]; then \
	  echo "error: DATA=$(DATA) holds neither train.csv nor wav/."; \
	  echo "  The dev set is expected in ../shared/data/dev (beside this clone)."; \
	  echo "  For your own data: python recipes/prepare.py --source <csv|folder|kaldi|voxceleb> --output <dir>,"; \
	  echo "  then make demo DATA=<dir>."; \
	  exit 2; fi
	@if [ -d "$(DATA)/wav" ] && [ -f "$(DATA)/trials.txt" ]; then \
	  $(PY) recipes/prepare.py --source $(DATA)/wav --format folder --trials $(DATA)/trials.txt \
	      --output $(DEMO)/data --overwrite; \
	else rm -rf $(DEMO)/data && mkdir -p $(DEMO) && ln -s "$$(cd $(DATA) && pwd)" $(DEMO)/data; fi
	scripts/run_demo.sh $(DEMO)/data $(SEED) $(DEMO_EPOCHS) $(DEMO)
	@echo "demo outputs: $(DEMO)/<system>_smalldata_e$(DEMO_EPOCHS)/$(SEED)/ (train_log.txt, metrics.jsonl, eval/trials-<hash>/), table: $(DEMO)/results/demo_seed$(SEED)/comparison.md"

# make crossval: the headline small-data figure. Every dev speaker (16 train + 6 test) is a test
# speaker once: 4 speaker folds, Res2Net50-AM and ECAPA-AM small-data recipes trained per fold,
# scores pooled over the folds with a speaker bootstrap, and their fold-matched paired
# comparison (scripts/run_crossval.sh; about an hour on 2 cores; resumable).
CV_EPOCHS ?= 12
crossval: env
	scripts/run_crossval.sh $(DATA) $(CV_EPOCHS) $(SEED)

bench: env
	$(PY) scripts/benchmark_training.py --data_folder=$(DATA) --output=results/benchmark_training.md

bench-encoders: env
	$(PY) scripts/benchmark_encoders.py

bench-metrics: env
	$(PY) scripts/benchmark_metrics.py

# The few-speakers studies behind the README's "Results with few speakers" (hours on a CPU;
# both resume where they stopped): the one-change-at-a-time ablation of the small-data
# recipe, and EER against the number of training speakers.
SYSTEM ?= ecapa_am
EPOCHS ?= 12
ablation: env
	DATA=$(DATA) scripts/run_smalldata_ablation.sh $(SYSTEM) $(EPOCHS) 1986

# The shipped small-data recipe (ablation row 4) once per seed, for comparisons over seeds:
#   make seeds SYSTEM=res2net_am EPOCHS=12 SEEDS="1986 1987"
SEEDS ?= 1986 1987
seeds: env
	DATA=$(DATA) scripts/run_smalldata_seeds.sh $(SYSTEM) $(EPOCHS) "$(SEEDS)"

learning-curve: env
	$(PY) recipes/learning_curve.py hparams/ecapa_am_demo.yaml --speakers 4,8,12,16 --data_folder $(DATA) \
	    --name learning_curve_ecapa_am_demo_e4 --number_of_epochs=4 --seed=1986 --noprogressbar
