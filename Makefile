# Two commands set everything up on a fresh machine:
#   make demo   train the demo-size Res2Net50 + AM-Softmax on the dev data ($(DATA)) and
#               evaluate it on its trial list (EER, minDCF)
#   make test   run the test suite
# The Python environment is built once from requirements.txt under ~/.cache/res2net-sv/.

DATA ?= ../shared/data/dev
PY = $(shell scripts/ensure_env.sh)
PYTEST_ARGS ?= -q

.PHONY: env test demo bench bench-metrics

env:
	@scripts/ensure_env.sh >/dev/null && echo "environment: $$(scripts/ensure_env.sh)"

test: env
	$(PY) -m pytest $(PYTEST_ARGS)

demo: env
	@if [ ! -f "$(DATA)/train.csv" ]; then \
	  echo "error: no train.csv in DATA=$(DATA)."; \
	  echo "  The dev set is expected in ../shared/data/dev (beside this clone)."; \
	  echo "  For your own data, prepare a folder with train.csv (ID,wav,spk_id) and run make demo DATA=<folder>."; \
	  exit 2; fi
	$(PY) recipes/train.py hparams/res2net_am_demo.yaml --data_folder=$(DATA) --noprogressbar
	$(PY) recipes/eval.py hparams/eval.yaml --experiment=exp/res2net_am_demo/1986 --score_norm=none,as
	@echo "demo outputs: exp/res2net_am_demo/1986 (train_log.txt, metrics.jsonl, save/, eval/trials/)"

bench: env
	$(PY) scripts/benchmark_training.py --data_folder=$(DATA) --output=results/benchmark_training.md

bench-metrics: env
	$(PY) scripts/benchmark_metrics.py
