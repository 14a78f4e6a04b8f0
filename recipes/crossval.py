#!/usr/bin/env python3
"""Speaker-fold cross-validation of a training recipe, and fold-matched comparison of two.

    python recipes/crossval.py hparams/res2net_am_smalldata.yaml --data_folder ../shared/data/dev \
        --name res2net_am_smalldata [--folds 4 --fold_seed 1986 --trials_per_fold 3000 --seed=1986 ...]
    python recipes/crossval.py compare results/crossval/res2net_am_smalldata results/crossval/ecapa_am_smalldata \
        --name res2net_vs_ecapa

Every speaker of <data_folder> (train.csv, valid.csv when present, and test.csv together: the
dev set's 16 + 6 = 22) goes into one of --folds disjoint folds, drawn from --fold_seed alone,
so every recipe cross-validated with the same fold seed sees the same folds and trials. Fold k
trains the recipe (any hparams file; every argument this command does not know is a train
override) on all utterances of the other speakers and scores --trials_per_fold balanced trials
among its own speakers. Training and evaluation run in this process (the library functions
behind recipes/train.py and recipes/eval.py). The report pools the raw cosine scores of all
folds: EER and minDCF with a 95% speaker-bootstrap interval over all test speakers, and every
fold's own figures and no-learning floor. Model choices belong on training speakers: the hparams
file's valid_speakers (held-out speakers inside each fold's training set) is the nested way.

Joint training: --extra_train <csv> adds another corpus's speakers to every fold's training set
(never to its test speakers), each row tagged with its corpus; --balance_corpora=True (a train
override) then gives every corpus the same share of each epoch. --extra_test <folder> also scores
every fold's model on that folder's trials.txt (e.g. held-out speakers of the other corpus).

Later stages: --init_from_study <name> starts every fold from the model that the study <name>
trained on the same fold (same data folder and folds, checked), e.g. large-margin fine-tuning
with --init_head=True (scripts/run_large_margin_crossval.sh).

Writes:
  exp/crossval/<name>/configuration.json      what defines the run (refused when it changes)
  exp/crossval/<name>/data_fold<k>/           train.csv, test.csv, trials.txt (absolute paths)
  exp/crossval/<name>/fold<k>/<seed>/         the training run; eval/trials/ its evaluation
  results/crossval/<name>/crossval.md, .json  pooled and per-fold figures, the configuration
  results/crossval/<name>/scores.txt          every fold's raw scores (what compare reads)
compare writes results/crossval/<name>/comparison.md and .json: the paired difference of the
pooled EER and minDCF (A - B) with a speaker bootstrap drawing the same speakers for both.
A side may list runs of one recipe with other seeds, comma-separated
(results/crossval/x,results/crossval/x_seed1987): the difference is then that of the seed
means, each run still drawn on the same speakers; runs that differ in more than the seed are
refused.

Resumable: rerun the same command; finished folds are kept, an interrupted fold resumes from
its last checkpoint. Another configuration under the same --name (hparams content, data, folds,
fold seed, trials, overrides, seed) is refused before anything is trained or written.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from custom_modules.studies.crossval_run import CrossvalOptions, CrossvalRunError, compare_runs, run_crossval

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv: Optional[List[str]]):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("hparams", help="the training hparams file (as for recipes/train.py)")
    parser.add_argument("--data_folder", required=True, help="folder with train.csv and test.csv (+ valid.csv)")
    parser.add_argument("--name", required=True, help="exp/crossval/<name>/ and results/crossval/<name>/")
    parser.add_argument("--folds", type=int, default=4, help="number of speaker folds (default 4)")
    parser.add_argument(
        "--fold_seed",
        type=int,
        default=1986,
        help="seed of the fold draw and trials; keep it to compare recipes fold by fold",
    )
    parser.add_argument("--trials_per_fold", type=int, default=3000, help="balanced trials per fold (default 3000)")
    parser.add_argument(
        "--extra_train",
        action="append",
        default=[],
        metavar="CSV",
        help="joint training: a speaker CSV of another corpus added to every fold's training set "
        "(its speakers are never test speakers; repeatable). Rows get a 'corpus' column "
        "(the CSV's folder name) for --balance_corpora=True",
    )
    parser.add_argument(
        "--extra_test",
        action="append",
        default=[],
        metavar="FOLDER",
        help="also score every fold's model on FOLDER/trials.txt (with FOLDER/test.csv), e.g. "
        "held-out speakers of another corpus; repeatable",
    )
    parser.add_argument(
        "--init_from_study",
        metavar="NAME",
        help="start every fold from the model the cross-validation NAME trained on the same fold (same folds "
        "and data): a later stage of one training, e.g. large-margin fine-tuning with --init_head=True",
    )
    parser.add_argument("--resamples", type=int, default=1000, help="speaker-bootstrap rounds of the pooled figures")
    parser.add_argument("--exp_root", default=os.path.join(ROOT, "exp", "crossval"))
    parser.add_argument("--output_root", default=os.path.join(ROOT, "results", "crossval"))
    return parser.parse_known_args(argv)


def run(argv: Optional[List[str]]) -> None:
    args, extra = parse_args(argv)
    options = CrossvalOptions(**vars(args), train_options=extra)
    try:
        text, results_folder = run_crossval(options)
    except CrossvalRunError as error:
        raise SystemExit(f"error: {error}") from None
    print(text)
    print(f"outputs in {results_folder}")


def compare(argv: Optional[List[str]]) -> None:
    parser = argparse.ArgumentParser(
        prog="crossval.py compare", description="fold-matched comparison of two recipes (one or more seeds each)"
    )
    parser.add_argument(
        "a", help="results/crossval/<name A> (crossval.json + scores.txt); several seeds of A: comma-separated"
    )
    parser.add_argument("b", help="results/crossval/<name B>; several seeds of B: comma-separated")
    parser.add_argument("--name", required=True, help="results/crossval/<name>/ receives comparison.md and .json")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--output_root", default=os.path.join(ROOT, "results", "crossval"))
    args = parser.parse_args(argv)
    try:
        text, out = compare_runs(args.a, args.b, args.name, args.resamples, args.output_root)
    except CrossvalRunError as error:
        raise SystemExit(f"error: {error}") from None
    print(text)
    print(f"outputs in {out}")


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "compare":
        compare(argv[1:])
    else:
        run(argv)


if __name__ == "__main__":
    main()
