#!/usr/bin/env python3
"""Export a trained experiment as a SpeechBrain pretrained speaker model folder.

    python recipes/export.py --experiment exp/res2net_am_demo/1986 --output models/res2net_am_demo

The folder loads offline with SpeechBrain's own interface (custom_modules importable):

    from speechbrain.inference.speaker import SpeakerRecognition
    model = SpeakerRecognition.from_hparams(source="models/res2net_am_demo", savedir="/tmp/x")

and with this project's recipes/eval.py, embed.py and verify.py (``--model``).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import json
import os

from custom_modules.experiment import CHECKPOINT_CHOICES, ExperimentError, load_experiment
from custom_modules.export.speechbrain_folder import export_experiment


def thresholds_from_results(path: str) -> dict:
    """Decision thresholds on raw cosine scores from an eval results.json, named by operating point."""
    with open(path) as handle:
        results = json.load(handle)
    if "none" not in results["systems"]:
        raise ValueError(f"{path}: no raw-score ('none') system; evaluate with --score_norm=none first")
    raw = results["systems"]["none"]
    thresholds = {"eer": {"threshold": raw["eer_threshold"], "trials": results["trials"], "value": raw["eer"]}}
    for entry in raw["min_dcf"]:
        if entry["threshold"] is not None:
            thresholds[f"min_dcf_{entry['p_target']}"] = {
                "threshold": entry["threshold"],
                "trials": results["trials"],
                "value": entry["min_dcf"],
            }
    return thresholds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", required=True, help="a recipes/train.py output folder")
    parser.add_argument("--output", required=True, help="the model folder to write")
    parser.add_argument("--checkpoint", default="auto", choices=CHECKPOINT_CHOICES)
    parser.add_argument("--calibration", help="a calibration.json (from recipes/eval.py --calibrate_on) to store")
    parser.add_argument(
        "--eval_results",
        help="a results.json of recipes/eval.py: its raw-score EER and minDCF "
        "thresholds are stored for recipes/verify.py",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    args = parser.parse_args(argv)
    try:
        experiment = load_experiment(args.experiment, args.checkpoint)
        calibration = None
        if args.calibration:
            with open(args.calibration) as handle:
                calibration = json.load(handle)
        card = {"thresholds": thresholds_from_results(args.eval_results)} if args.eval_results else None
        folder = export_experiment(
            experiment, args.output, overwrite=args.overwrite, calibration=calibration, extra_card=card
        )
    except (ExperimentError, FileExistsError, ValueError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"exported {args.experiment} ({os.path.basename(experiment.checkpoint)}) to {folder}")


if __name__ == "__main__":
    main()
