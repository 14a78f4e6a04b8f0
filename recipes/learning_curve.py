#!/usr/bin/env python3
"""Learning curve: EER against the number of training speakers, for one recipe.

    python recipes/learning_curve.py hparams/res2net_am_demo.yaml --speakers 4,8,12,16 \
        --data_folder ../shared/data/dev --name res2net_demo_curve [--number_of_epochs=4 --seed=1986 ...]

Trains the same recipe (hparams, overrides, epochs, seed) as recipes/train.py does on nested
subsets of the training speakers of <data_folder>/train.csv: one permutation of the
speakers is drawn from the seed, and the k-speaker subset is its first k speakers, so the
4-speaker set is inside the 8-speaker set, and so on. Each model is evaluated as
recipes/eval.py does on the same trial list (--trials, default <data_folder>/trials.txt, with
--test_annotation, default <data_folder>/test.csv; relative paths in it start from
--data_folder). Every argument this command does not know is passed on to train.py. Training
and evaluation run in this process (custom_modules/training/brain.py, custom_modules/evaluation.py).

Writes (nothing the user made is touched; other files in results/<name>/, e.g. a
compare.py table, are left alone):
  exp/learning_curve/<name>/configuration.json    what defines the curve (not the counts)
  exp/learning_curve/<name>/data_<k>spk/          train.csv (+ valid.csv when the data
                                                  folder has one, same speakers), test.csv;
                                                  absolute audio paths
  exp/learning_curve/<name>/<k>spk/<seed>/        the train.py output, eval in eval/<trials stem>/
  results/<name>/learning_curve.md, .json, .png   the table, the data, EER (%) with 95% bars

Resumable: re-running the same command skips every subset whose results.json exists, and
train.py resumes an interrupted subset from its last checkpoint. The same configuration with
more counts extends the curve. A different configuration under the same --name (another
seed, hparams file or its content, data folder, overrides, trials) is refused before
anything is trained or written: choose another --name. valid_speakers must be 0 (train.py
would draw held-out speakers anew inside each subset, so the training sets would not be nested).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from custom_modules.data.dataio import DataError, read_speaker_csv
from custom_modules.experiment import file_sha256
from custom_modules.outputs.atomic import atomic_path, write_json, write_text
from custom_modules.outputs.provenance import git_commit, timestamp
from custom_modules.scoring.normalisation import NORM_METHODS
from custom_modules.studies.learning_curve import (
    LearningCurveError,
    check_speaker_counts,
    nested_subsets,
    parse_speaker_counts,
    speaker_order,
    write_subset_folder,
)
from custom_modules.studies.learning_curve_report import build_report, curve_markdown, curve_point, plot_learning_curve
from custom_modules.studies.train_overrides import (
    RUN_ONLY_OPTIONS,
    check_no_heldout_speakers,
    check_train_overrides,
    hparams_seed,
    override_args,
    parse_overrides,
    refuse_changed_configuration,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG_FILE = "configuration.json"
OUTPUTS = ("learning_curve.md", "learning_curve.json", "learning_curve.png")


def parse_args(argv: Optional[List[str]]) -> Tuple[argparse.Namespace, List[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("hparams", help="the training hparams file (as for recipes/train.py)")
    parser.add_argument("--speakers", required=True, help="increasing speaker counts, e.g. 4,8,12,16")
    parser.add_argument(
        "--data_folder", required=True, help="folder with train.csv (and valid.csv, test.csv, trials.txt)"
    )
    parser.add_argument(
        "--name", required=True, help="results/<name>/ and exp/learning_curve/<name>/ receive the outputs"
    )
    parser.add_argument("--trials", help="trial list (default: <data_folder>/trials.txt)")
    parser.add_argument("--test_annotation", help="CSV of the trial utterances (default: <data_folder>/test.csv)")
    parser.add_argument(
        "--score_norm",
        default="none",
        choices=list(NORM_METHODS),
        help="which scores the curve reports (eval.py also computes raw scores)",
    )
    parser.add_argument(
        "--exp_root",
        default=os.path.join(ROOT, "exp", "learning_curve"),
        help="<exp_root>/<name>/ receives the subset data folders and training runs",
    )
    parser.add_argument(
        "--output_root",
        default=os.path.join(ROOT, "results"),
        help="<output_root>/<name>/ receives learning_curve.md, .json and .png",
    )
    return parser.parse_known_args(argv)


def check_previous(config: Dict, config_path: str, results_folder: str) -> None:
    """Refuse a --name already used by another configuration (before anything is written)."""
    refuse_changed_configuration(
        config,
        config_path,
        "a learning curve",
        "Its checkpoints would be resumed with the new settings. Choose another --name, or delete that "
        f"folder (and {results_folder}) to start this one afresh.",
    )
    report_path = os.path.join(results_folder, "learning_curve.json")
    if os.path.isfile(report_path):
        refuse_changed_configuration(
            config, report_path, "a learning curve", "Choose another --name (nothing was trained or written)."
        )
    else:
        ours = [f for f in OUTPUTS if os.path.exists(os.path.join(results_folder, f))]
        if ours:
            raise SystemExit(
                f"error: {results_folder} already has {ours} but no learning_curve.json, so they were not written "
                f"by this command for this configuration; choose another --name (nothing was trained or written)."
            )


RESUME_HINT = (
    "Fix the cause and run the same command again: finished subsets are kept and training resumes from "
    "its last checkpoint."
)


def train_step(argv: List[str], what: str) -> None:
    """Train one subset in this process (custom_modules.training.brain.train, what recipes/train.py runs)."""
    from custom_modules.training.brain import train

    print("training: recipes/train.py " + " ".join(argv), flush=True)
    try:
        train(argv)
    except SystemExit as error:
        raise SystemExit(f"{error}\nerror: {what} failed. {RESUME_HINT}") from None


def evaluate_step(overrides: Dict, what: str) -> None:
    """Evaluate one subset in this process (custom_modules.evaluation.evaluate, what recipes/eval.py runs)."""
    from custom_modules.evaluation import EVALUATION_ERRORS, evaluate, load_eval_hparams

    overrides = dict(overrides)
    device = overrides.pop("device", None) or "cpu"
    print(
        "evaluating: recipes/eval.py hparams/eval.yaml " + " ".join(f"--{k}={v}" for k, v in overrides.items()),
        flush=True,
    )
    try:
        evaluate(load_eval_hparams(overrides), device)
    except EVALUATION_ERRORS as error:
        raise SystemExit(f"error: {what} failed: {error}. {RESUME_HINT}") from None


def finished(results_path: str, score_norm: str) -> bool:
    if not os.path.isfile(results_path):
        return False
    with open(results_path) as handle:
        return score_norm in json.load(handle).get("systems", {})


class CurveInputs(NamedTuple):
    """What the command reads before anything is trained: paths, seed, rows, speaker order."""

    data_folder: str
    trials: str
    test_csv: str
    valid_path: str
    seed: int
    train_rows: List[Dict[str, str]]
    valid_rows: Optional[List[Dict[str, str]]]
    test_rows: List[Dict[str, str]]
    order: List[str]


def parse_command(args: argparse.Namespace, extra: List[str]) -> Tuple[List[int], Dict[str, Optional[str]]]:
    """The speaker counts and train.py overrides, with --name and the hparams file checked."""
    try:
        counts = parse_speaker_counts(args.speakers)
        overrides = parse_overrides(extra)
        check_train_overrides(overrides)
    except LearningCurveError as error:
        raise SystemExit(f"error: {error}") from None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", args.name):
        raise SystemExit(f"error: --name {args.name!r}: use a plain folder name (letters, digits, _ . -)")
    if not os.path.isfile(args.hparams):
        raise SystemExit(f"error: hparams file {args.hparams!r} not found (e.g. hparams/res2net_am_demo.yaml)")
    return counts, overrides


def read_inputs(args: argparse.Namespace, counts: List[int], overrides: Dict[str, Optional[str]]) -> CurveInputs:
    """Check the data folder, trials and test CSV, find the seed and draw the speaker order."""
    with open(args.hparams) as handle:
        hparams_text = handle.read()
    data_folder = os.path.abspath(args.data_folder)
    trials = os.path.abspath(args.trials or os.path.join(data_folder, "trials.txt"))
    test_csv = os.path.abspath(args.test_annotation or os.path.join(data_folder, "test.csv"))
    if not os.path.isdir(data_folder):
        raise SystemExit(
            f"error: data folder {args.data_folder!r} not found; pass --data_folder=<folder with train.csv> "
            f"(the dev set is ../shared/data/dev; recipes/prepare.py prepares your own data)"
        )
    for path, option in ((trials, "--trials"), (test_csv, "--test_annotation")):
        if not os.path.isfile(path):
            raise SystemExit(
                f"error: {path} not found: every subset is evaluated on the same trials; pass {option}=<file>"
            )
    valid_path = os.path.join(data_folder, "valid.csv")
    try:
        seed = hparams_seed(hparams_text, overrides)
        check_no_heldout_speakers(hparams_text, overrides)
        train_rows = read_speaker_csv(os.path.join(data_folder, "train.csv"))
        valid_rows = read_speaker_csv(valid_path) if os.path.isfile(valid_path) else None
        test_rows = read_speaker_csv(test_csv)
        order = speaker_order([r["spk_id"] for r in train_rows], seed)
        check_speaker_counts(counts, len(order))
    except (LearningCurveError, DataError) as error:
        raise SystemExit(f"error: {error}") from None
    return CurveInputs(data_folder, trials, test_csv, valid_path, seed, train_rows, valid_rows, test_rows, order)


def curve_configuration(args: argparse.Namespace, inputs: CurveInputs, overrides: Dict[str, Optional[str]]) -> Dict:
    """What defines the curve (not the counts): a rerun with another configuration is refused."""
    return {
        "hparams_file": os.path.abspath(args.hparams),
        "hparams_sha256": file_sha256(args.hparams),
        "data_folder": inputs.data_folder,
        "valid_csv": inputs.valid_path if inputs.valid_rows is not None else None,
        "seed": inputs.seed,
        "speaker_order": inputs.order,
        "train_args": override_args({k: v for k, v in overrides.items() if k not in RUN_ONLY_OPTIONS + ("seed",)}),
        "trials": inputs.trials,
        "test_annotation": inputs.test_csv,
        "score_norm": args.score_norm,
    }


def run_subsets(
    args: argparse.Namespace,
    inputs: CurveInputs,
    overrides: Dict[str, Optional[str]],
    counts: List[int],
    exp_folder: str,
) -> List[Dict]:
    """Train and evaluate every subset not finished already; one curve point per subset."""
    seed, trials = inputs.seed, inputs.trials
    train_args = override_args({**overrides, "seed": str(seed)})
    stem = os.path.splitext(os.path.basename(trials))[0]
    norms = ",".join(dict.fromkeys(["none", args.score_norm]))
    device = {"device": overrides["device"]} if overrides.get("device") else {}
    points = []
    for count, speakers in nested_subsets(inputs.order, counts).items():
        data_k = os.path.join(exp_folder, f"data_{count}spk")
        out_k = os.path.join(exp_folder, f"{count}spk", str(seed))
        eval_k = os.path.join(out_k, "eval", stem)
        results_path = os.path.join(eval_k, "results.json")
        try:
            paths = write_subset_folder(
                data_k, speakers, inputs.data_folder, inputs.train_rows, inputs.valid_rows, inputs.test_rows
            )
        except LearningCurveError as error:
            raise SystemExit(f"error: {error}") from None
        if finished(results_path, args.score_norm):
            print(f"{count} speakers: done already ({results_path}), not retrained", flush=True)
        else:
            print(f"{count} speakers: training on {data_k} -> {out_k}", flush=True)
            train_step(
                [os.path.abspath(args.hparams), f"--data_folder={data_k}", f"--output_folder={out_k}", *train_args],
                f"training the {count}-speaker subset",
            )
            evaluate_step(
                {
                    "experiment": out_k,
                    "data_folder": data_k,
                    "trials": trials,
                    "test_annotation": paths["test"],
                    "score_norm": norms,
                    "output_folder": eval_k,
                    **device,
                },
                f"evaluating the {count}-speaker subset",
            )
        points.append(curve_point(count, speakers, out_k, results_path, args.score_norm))
    return points


def write_curve(args: argparse.Namespace, config: Dict, points: List[Dict], results_folder: str, seed: int) -> str:
    """Write learning_curve.md, .png and .json (the JSON, what reruns check, last); return the table."""
    try:
        report = build_report(args.name, config, points, timestamp(), git_commit())
    except LearningCurveError as error:
        raise SystemExit(f"error: {error}") from None
    os.makedirs(results_folder, exist_ok=True)
    text = curve_markdown(report)  # every file through a temporary name; the JSON (what reruns check) last
    write_text(os.path.join(results_folder, "learning_curve.md"), text)
    with atomic_path(os.path.join(results_folder, "learning_curve.png")) as png:
        plot_learning_curve(points, png, title=f"{args.name}: {os.path.basename(args.hparams)}, seed {seed}")
    write_json(os.path.join(results_folder, "learning_curve.json"), report)
    return text


def main(argv: Optional[List[str]] = None) -> None:
    args, extra = parse_args(argv)
    counts, overrides = parse_command(args, extra)
    inputs = read_inputs(args, counts, overrides)
    config = curve_configuration(args, inputs, overrides)
    exp_folder = os.path.join(os.path.abspath(args.exp_root), args.name)
    results_folder = os.path.join(os.path.abspath(args.output_root), args.name)
    config_path = os.path.join(exp_folder, CONFIG_FILE)
    check_previous(config, config_path, results_folder)
    os.makedirs(exp_folder, exist_ok=True)
    write_json(config_path, config)
    points = run_subsets(args, inputs, overrides, counts, exp_folder)
    text = write_curve(args, config, points, results_folder, inputs.seed)
    print(text)
    print(f"outputs in {results_folder}")


if __name__ == "__main__":
    main()
