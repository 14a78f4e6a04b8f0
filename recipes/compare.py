#!/usr/bin/env python3
"""Compare trained systems on the same trial list: one table, one DET plot, every setting.

    python recipes/compare.py exp/res2net_am_demo/1986 exp/ecapa_aam_demo/1986 --name dev_demo
    python recipes/compare.py <experiment folders...> [--trials FILE --test_annotation CSV] [--score_norm as]

The no-learning floor (cepstral mean + std, cosine; built by the evaluation from the first
system's training data and scored on the same trials) is always the last row (--no_floor
leaves it out), and a system above it is flagged as worse than learning nothing.

Bootstrap speakers are the test CSV's spk_id (the one the evaluation used, or --test_annotation),
never a part of an utterance ID.

Each experiment is evaluated as recipes/eval.py does, in this process (custom_modules/evaluation.py),
on the same trials (its existing
results, in the evaluation folder keyed by the trial list's content, are reused; --reeval
forces a new run); results of different trial lists are never mixed in one table.
Writes results/<name>/comparison.md and comparison.json (EER with a 95% interval from a
bootstrap over the trial list's speakers, minDCF at the evaluations' p_targets (hparams/eval.yaml),
parameters, multiply-accumulates per second of audio, training seconds per epoch,
embedding extraction speed), det.png with every system, hparams/<system>.yaml (the exact
hparams each system was trained with) and logs/<system>.metrics.jsonl and
.eval_summary.md (how it trained and what its evaluation said). Systems that share an
experiment name but differ in seed are also summarised across seeds (mean, std, min and
max), and when one has several seeds every system's
seed-averaged EER is compared with the first system's by a paired speaker bootstrap
(every run of both on the same resampled speakers).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import os
from typing import List, Optional

from custom_modules.experiment import ExperimentError
from custom_modules.outputs.atomic import OutputError
from custom_modules.scoring.normalisation import NORM_METHODS
from custom_modules.studies.comparison import ComparisonError, compare, comparison_folder
from custom_modules.studies.comparison_report import markdown

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="+", help="recipes/train.py output folders")
    parser.add_argument("--name", default="comparison", help="results/<name>/ receives the outputs")
    parser.add_argument("--trials", help="trial list (default: each experiment's data_folder/trials.txt)")
    parser.add_argument("--test_annotation", help="CSV of the trial utterances (default: data_folder/test.csv)")
    parser.add_argument("--data_folder", help="folder the test CSV's relative paths start from")
    parser.add_argument("--score_norm", default="none", choices=list(NORM_METHODS))
    parser.add_argument("--reeval", action="store_true", help="evaluate again even if results exist")
    parser.add_argument("--resamples", type=int, default=1000, help="speaker bootstrap resamples")
    parser.add_argument("--output_root", default=os.path.join(ROOT, "results"))
    parser.add_argument(
        "--no_floor",
        action="store_true",
        help="leave out the no-learning floor row (built from the first system's training data)",
    )
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        report = compare(args)
    except (ComparisonError, ExperimentError, OutputError) as error:
        raise SystemExit(f"error: {error}") from None
    print(markdown(report))
    print(f"outputs in {comparison_folder(args)}")


if __name__ == "__main__":
    main()
