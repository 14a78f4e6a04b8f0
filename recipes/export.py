#!/usr/bin/env python3
"""Export a trained experiment as a SpeechBrain pretrained speaker model folder.

    python recipes/export.py --experiment exp/res2net_am_demo/1986 --output models/res2net_am_demo

The folder loads offline with SpeechBrain's own interface (custom_modules importable):

    from speechbrain.inference.speaker import SpeakerRecognition
    model = SpeakerRecognition.from_hparams(source="models/res2net_am_demo", savedir="/tmp/x")

and with this project's recipes/eval.py, embed.py and verify.py (``--model``).

With ``--format onnx`` the output is one ONNX file instead (``.onnx`` is added when missing):
feature pipeline, normalisation and encoder as one graph (inputs ``wavs`` (batch, samples)
and ``wav_lens`` (batch,) relative lengths; output ``embeddings`` (batch, dim); opset 18),
which embed.py and verify.py run with onnxruntime alone (docs/deployment.md):

    python recipes/export.py --experiment exp/res2net_am_demo/1986 --output models/res2net_am_demo.onnx \
        --format onnx

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import json
import os

from custom_modules.experiment import CHECKPOINT_CHOICES, Experiment, ExperimentError, load_experiment
from custom_modules.export.speechbrain_folder import export_experiment
from custom_modules.outputs.atomic import OutputError


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


def onnx_output(output: str, overwrite: bool) -> str:
    """The ONNX file to write for ``--output`` (``.onnx`` added when missing); an existing file
    is replaced only with ``overwrite`` and only when an earlier ``--format onnx`` wrote it."""
    path = output if output.lower().endswith(".onnx") else output + ".onnx"
    if os.path.isdir(path):
        raise FileExistsError(f"--output {path} is a folder; --format onnx writes a file, e.g. models/<name>.onnx")
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(f"{path} exists; choose another --output or pass --overwrite")
        from custom_modules.export.onnx_runtime import OnnxEmbedder, OnnxModelError

        try:
            OnnxEmbedder(path)
        except OnnxModelError:
            raise FileExistsError(
                f"{path} is not an ONNX model written by recipes/export.py; --overwrite replaces only those"
            ) from None
    return path


def export_onnx_file(experiment: Experiment, output: str, overwrite: bool, card: dict) -> str:
    """Write ``experiment``'s extractor as one ONNX graph (custom_modules/export/onnx_export.py)."""
    import datetime

    from custom_modules.export.onnx_export import export_onnx

    path = onnx_output(output, overwrite)
    card = {
        "source_experiment": os.path.abspath(experiment.folder),
        "checkpoint": os.path.basename(experiment.checkpoint),
        "exported": datetime.datetime.now().isoformat(timespec="seconds"),
        **card,
    }
    rate = experiment.record.get("sample_rate", 16000)
    return export_onnx(experiment.extractor, path, sample_rate=rate, card=card)


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
    parser.add_argument(
        "--format",
        default="speechbrain",
        choices=["speechbrain", "onnx"],
        help="speechbrain: a pretrained-model folder (default); onnx: one .onnx file run by onnxruntime",
    )
    args = parser.parse_args(argv)
    try:
        experiment = load_experiment(args.experiment, args.checkpoint)
        calibration = None
        if args.calibration:
            with open(args.calibration) as handle:
                calibration = json.load(handle)
        card = {"thresholds": thresholds_from_results(args.eval_results)} if args.eval_results else None
        if args.format == "onnx":
            full_card = {"calibration": calibration, **(card or {})}
            folder = export_onnx_file(experiment, args.output, args.overwrite, full_card)
        else:
            folder = export_experiment(
                experiment, args.output, overwrite=args.overwrite, calibration=calibration, extra_card=card
            )
    except (ExperimentError, FileExistsError, ValueError, OSError, OutputError) as error:
        raise SystemExit(f"error: {error}") from None
    print(f"exported {args.experiment} ({os.path.basename(experiment.checkpoint)}) to {folder}")


if __name__ == "__main__":
    main()
