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

Writes:
  exp/crossval/<name>/configuration.json      what defines the run (refused when it changes)
  exp/crossval/<name>/data_fold<k>/           train.csv, test.csv, trials.txt (absolute paths)
  exp/crossval/<name>/fold<k>/<seed>/         the training run; eval/trials/ its evaluation
  results/crossval/<name>/crossval.md, .json  pooled and per-fold figures, the configuration
  results/crossval/<name>/scores.txt          every fold's raw scores (what compare reads)
compare writes results/crossval/<name>/comparison.md and .json: the paired difference of the
pooled EER and minDCF (A - B) with a speaker bootstrap drawing the same speakers for both.

Resumable: rerun the same command; finished folds are kept, an interrupted fold resumes from
its last checkpoint. Another configuration under the same --name (hparams content, data, folds,
fold seed, trials, overrides, seed) is refused before anything is trained or written.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Dict, List, Optional

from custom_modules.crossval import (
    CrossvalError,
    comparison_markdown,
    crossval_markdown,
    paired_comparison,
    pool_folds,
    read_fold_scores,
    speaker_folds,
    write_fold_folder,
)
from custom_modules.data.dataio import DataError, read_speaker_csv
from custom_modules.diagnostics.floor_check import training_recipe_facts
from custom_modules.experiment import file_sha256
from custom_modules.learning_curve import LearningCurveError
from custom_modules.outputs.atomic import write_json, write_text
from custom_modules.outputs.provenance import git_commit, project_path, timestamp
from custom_modules.scoring.metrics import DEFAULT_P_TARGETS
from custom_modules.scoring.trials import Trial
from custom_modules.train_overrides import (
    RUN_ONLY_OPTIONS,
    check_train_overrides,
    hparams_seed,
    override_args,
    parse_overrides,
    refuse_changed_configuration,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG_FILE = "configuration.json"
P_TARGETS = DEFAULT_P_TARGETS


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
    parser.add_argument("--resamples", type=int, default=1000, help="speaker-bootstrap rounds of the pooled figures")
    parser.add_argument("--exp_root", default=os.path.join(ROOT, "exp", "crossval"))
    parser.add_argument("--output_root", default=os.path.join(ROOT, "results", "crossval"))
    return parser.parse_known_args(argv)


def all_rows(data_folder: str) -> List[Dict[str, str]]:
    """train.csv (+ valid.csv) + test.csv: every utterance of every speaker, checked to have
    no utterance ID twice."""
    rows = []
    for name in ("train.csv", "valid.csv", "test.csv"):
        path = os.path.join(data_folder, name)
        if os.path.isfile(path):
            rows += read_speaker_csv(path)
        elif name != "valid.csv":
            raise SystemExit(
                f"error: {path} not found: cross-validation takes the speakers of train.csv and test.csv "
                f"(recipes/prepare.py writes both)"
            )
    seen, twice = set(), []
    for row in rows:
        if row["ID"] in seen:
            twice.append(row["ID"])
        seen.add(row["ID"])
    if twice:
        raise SystemExit(
            f"error: {data_folder}: utterance IDs {twice[:3]} appear in more than one of train/valid/test.csv"
        )
    return rows


def extra_training_rows(paths: List[str]) -> List[Dict[str, str]]:
    """The rows of every --extra_train CSV, audio paths made absolute (relative ones start from
    the CSV's folder), each tagged with its corpus (the folder's name)."""
    from custom_modules.learning_curve import subset_rows

    rows = []
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        found = read_speaker_csv(path)
        rows += [
            {**r, "corpus": os.path.basename(folder)} for r in subset_rows(found, {r["spk_id"] for r in found}, folder)
        ]
    return rows


def extra_test_paths(folder: str) -> Dict[str, str]:
    """trials.txt and test.csv of an --extra_test folder, checked to exist."""
    folder = os.path.abspath(folder)
    paths = {
        "folder": folder,
        "trials": os.path.join(folder, "trials.txt"),
        "test": os.path.join(folder, "test.csv"),
        "name": "extra_" + re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(folder)),
    }
    for key in ("trials", "test"):
        if not os.path.isfile(paths[key]):
            raise SystemExit(
                f"error: --extra_test {folder}: {paths[key]} not found (a folder of recipes/prepare.py "
                f"has trials.txt and test.csv)"
            )
    return paths


def fold_done(results_path: str, trials_path: str) -> bool:
    if not os.path.isfile(results_path):
        return False
    with open(results_path) as handle:
        return json.load(handle).get("trials_sha256") == file_sha256(trials_path)


def write_pooled_scores(path: str, folds) -> None:
    lines = [
        f"{f['fold']} {t.enrol} {f['speakers'][t.enrol]} {t.test} {f['speakers'][t.test]} {t.label} {s:.6f}\n"
        for f in folds
        for t, s in zip(f["trials"], f["scores"])
    ]
    write_text(path, "".join(lines))


def read_pooled_scores(path: str):
    """The folds of a ``scores.txt`` written by a cross-validation run."""
    folds: Dict[int, Dict] = {}
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if len(parts) != 7:
                raise SystemExit(
                    f"error: {path}:{number}: expected 7 fields (fold enrol spk test spk label score), got {len(parts)}"
                )
            fold = folds.setdefault(int(parts[0]), {"fold": int(parts[0]), "trials": [], "scores": [], "speakers": {}})
            fold["trials"].append(Trial(int(parts[5]), parts[1], parts[3]))
            fold["scores"].append(float(parts[6]))
            fold["speakers"][parts[1]], fold["speakers"][parts[3]] = parts[2], parts[4]
    return [folds[k] for k in sorted(folds)]


def evaluate_fold(overrides: Dict[str, str], device: str) -> None:
    """Raw cosine scores of one fold's model on one trial list, in this process (what
    recipes/eval.py runs); errors end the command with one line."""
    from custom_modules.evaluation import EVALUATION_ERRORS, evaluate, load_eval_hparams

    try:
        evaluate(load_eval_hparams({**overrides, "score_norm": "none", "bootstrap_resamples": 0}), device)
    except EVALUATION_ERRORS as error:
        raise SystemExit(
            f"error: evaluating {overrides['experiment']}: {error} (rerun the same command: finished folds are kept)"
        ) from None


def run(argv: Optional[List[str]]) -> None:
    from custom_modules.training.brain import train

    args, extra = parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", args.name):
        raise SystemExit(f"error: --name {args.name!r}: use a plain folder name (letters, digits, _ . -)")
    if not os.path.isfile(args.hparams):
        raise SystemExit(f"error: hparams file {args.hparams!r} not found (e.g. hparams/res2net_am_smalldata.yaml)")
    data_folder = os.path.abspath(args.data_folder)
    if not os.path.isdir(data_folder):
        raise SystemExit(f"error: data folder {args.data_folder!r} not found (the dev set is ../shared/data/dev)")
    try:
        overrides = parse_overrides(extra)
        check_train_overrides(overrides)
        seed = hparams_seed(open(args.hparams).read(), overrides)
        rows = all_rows(data_folder)
        folds = speaker_folds([r["spk_id"] for r in rows], args.folds, args.fold_seed)
        extra_rows = extra_training_rows(args.extra_train)
        if extra_rows:  # joint training: every row names its corpus
            rows = [{**r, "corpus": os.path.basename(data_folder)} for r in rows]
        extra_tests = [extra_test_paths(folder) for folder in args.extra_test]
    except (LearningCurveError, CrossvalError, DataError) as error:
        raise SystemExit(f"error: {error}") from None
    config = {  # paths relative to the project: the committed report stays true on another checkout
        "hparams_file": project_path(args.hparams),
        "hparams_sha256": file_sha256(args.hparams),
        "data_folder": project_path(data_folder),
        "folds": args.folds,
        "fold_seed": args.fold_seed,
        "fold_speakers": folds,
        "trials_per_fold": args.trials_per_fold,
        "seed": seed,
        "extra_train": {project_path(p): file_sha256(p) for p in args.extra_train},
        "extra_test": {project_path(t["trials"]): file_sha256(t["trials"]) for t in extra_tests},
        "train_args": override_args({k: v for k, v in overrides.items() if k not in RUN_ONLY_OPTIONS + ("seed",)}),
    }
    exp_folder = os.path.join(os.path.abspath(args.exp_root), args.name)
    results_folder = os.path.join(os.path.abspath(args.output_root), args.name)
    config_path = os.path.join(exp_folder, CONFIG_FILE)
    for path in (config_path, os.path.join(results_folder, "crossval.json")):  # before anything is written
        refuse_changed_configuration(
            config, path, "a cross-validation", "Choose another --name, or delete that folder to start this one afresh."
        )
    os.makedirs(exp_folder, exist_ok=True)
    write_json(config_path, config)

    train_args = override_args({**overrides, "seed": str(seed)})
    device = overrides.get("device") or "cpu"
    fold_scores, floor_scores, fold_facts = [], [], []
    for k, test_speakers in enumerate(folds):
        data_k = os.path.join(exp_folder, f"data_fold{k + 1}")
        out_k = os.path.join(exp_folder, f"fold{k + 1}", str(seed))
        eval_k = os.path.join(out_k, "eval", "trials")
        try:
            paths = write_fold_folder(
                data_k,
                rows,
                test_speakers,
                data_folder,
                args.trials_per_fold,
                seed=args.fold_seed + k,
                extra_train=extra_rows,
            )
        except CrossvalError as error:
            raise SystemExit(f"error: {error}") from None
        results_path = os.path.join(eval_k, "results.json")
        if fold_done(results_path, paths["trials"]):
            print(f"fold {k + 1}/{args.folds}: done already ({results_path})", flush=True)
        else:
            print(
                f"fold {k + 1}/{args.folds}: test speakers {', '.join(test_speakers)}; training -> {out_k}", flush=True
            )
            train([os.path.abspath(args.hparams), f"--data_folder={data_k}", f"--output_folder={out_k}", *train_args])
            evaluate_fold(
                {
                    "experiment": out_k,
                    "data_folder": data_k,
                    "trials": paths["trials"],
                    "test_annotation": paths["test"],
                    "output_folder": eval_k,
                },
                device,
            )
        with open(results_path) as handle:
            results = json.load(handle)
        fold_scores.append(read_fold_scores(k, os.path.join(eval_k, "scores_none.txt"), paths["test"]))
        for t in extra_tests:  # the fold's model on another trial list (cheap: no training)
            extra_eval = os.path.join(out_k, "eval", t["name"])
            if not fold_done(os.path.join(extra_eval, "results.json"), t["trials"]):
                evaluate_fold(
                    {
                        "experiment": out_k,
                        "data_folder": t["folder"],
                        "trials": t["trials"],
                        "test_annotation": t["test"],
                        "output_folder": extra_eval,
                    },
                    device,
                )
            with open(os.path.join(extra_eval, "results.json")) as handle:
                extra = json.load(handle)
            t.setdefault("fold_eer", []).append(extra["systems"]["none"]["eer"])
            t.setdefault("fold_floor_eer", []).append((extra.get("floor") or {}).get("eer"))
        floor_path = os.path.join(eval_k, "scores_floor.txt")
        if os.path.isfile(floor_path):
            floor_scores.append(read_fold_scores(k, floor_path, paths["test"]))
        fold_facts.append(
            {
                "floor_eer": (results.get("floor") or {}).get("eer"),
                "epochs": training_recipe_facts(out_k)["epochs"],
                "experiment": project_path(out_k),
                "checkpoint": os.path.basename(results.get("checkpoint") or ""),
            }
        )
    report = pool_folds(fold_scores, p_targets=P_TARGETS, resamples=args.resamples)
    for fold, facts in zip(report["folds"], fold_facts):
        fold.update(facts)
    if len(floor_scores) == len(fold_scores):  # the no-learning floor pooled over the same trials
        report["floor"] = pool_folds(floor_scores, p_targets=P_TARGETS, resamples=args.resamples)["pooled"]
    if extra_tests:
        report["extra_test"] = [
            {
                "trials": project_path(t["trials"]),
                "fold_eer": t["fold_eer"],
                "mean_eer": sum(t["fold_eer"]) / len(t["fold_eer"]),
                "fold_floor_eer": t["fold_floor_eer"],  # each fold's floor: its own training set
                "floor_eer": (
                    None if None in t["fold_floor_eer"] else sum(t["fold_floor_eer"]) / len(t["fold_floor_eer"])
                ),
            }
            for t in extra_tests
        ]
    report.update(
        {
            "name": args.name,
            "configuration": config,
            "scores": "scores.txt",
            "date": timestamp(),
            "commit": git_commit(),
        }
    )
    os.makedirs(results_folder, exist_ok=True)
    write_pooled_scores(os.path.join(results_folder, "scores.txt"), fold_scores)
    text = crossval_markdown(report)
    write_text(os.path.join(results_folder, "crossval.md"), text)
    write_json(os.path.join(results_folder, "crossval.json"), report)
    print(text)
    print(f"outputs in {results_folder}")


def compare(argv: Optional[List[str]]) -> None:
    parser = argparse.ArgumentParser(prog="crossval.py compare", description="fold-matched comparison of two runs")
    parser.add_argument("a", help="results/crossval/<name A> (crossval.json + scores.txt)")
    parser.add_argument("b", help="results/crossval/<name B>")
    parser.add_argument("--name", required=True, help="results/crossval/<name>/ receives comparison.md and .json")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--output_root", default=os.path.join(ROOT, "results", "crossval"))
    args = parser.parse_args(argv)
    reports, folds = [], []
    for folder in (args.a, args.b):
        for name in ("crossval.json", "scores.txt"):
            if not os.path.isfile(os.path.join(folder, name)):
                raise SystemExit(f"error: {folder} has no {name}: pass a folder written by recipes/crossval.py")
        with open(os.path.join(folder, "crossval.json")) as handle:
            reports.append(json.load(handle))
        folds.append(read_pooled_scores(os.path.join(folder, "scores.txt")))
    try:
        difference = paired_comparison(folds[0], folds[1], p_targets=P_TARGETS, resamples=args.resamples)
    except CrossvalError as error:
        raise SystemExit(f"error: {args.a} and {args.b}: {error}") from None
    names = [reports[0]["name"], reports[1]["name"]]
    out = os.path.join(os.path.abspath(args.output_root), args.name)
    os.makedirs(out, exist_ok=True)
    text = comparison_markdown(names[0], names[1], reports[0], reports[1], difference)
    write_text(os.path.join(out, "comparison.md"), text + f"\nDate {timestamp()}, commit {git_commit()}.\n")
    write_json(
        os.path.join(out, "comparison.json"),
        {"a": names[0], "b": names[1], "difference": difference, "pooled_eer": [r["pooled"]["eer"] for r in reports]},
    )
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
