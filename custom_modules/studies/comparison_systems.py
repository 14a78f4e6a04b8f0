"""The rows of a comparison: every system evaluated on the same trial list, and the floor.

:func:`describe_system` evaluates an experiment as ``recipes/eval.py`` does, in this process
(:func:`evaluation` reuses the results in the evaluation folder keyed by the trial list's
content; ``--reeval`` forces a new run), and makes it a row of the table: EER and minDCF at the
evaluation's priors with speaker-bootstrap intervals (the speakers are the test CSV's
``spk_id``, :func:`speaker_map`, never a part of an utterance ID), parameters,
multiply-accumulates per second of audio, training seconds per epoch and embedding speed; it
copies the system's hparams and logs beside the comparison. :func:`floor_row` makes the
no-learning floor that the first system's evaluation scored on the same trials a row too.
Rows keep, under keys starting with ``_`` (never written), their scores, trials and
utterance -> speaker map for the paired comparisons of :mod:`custom_modules.studies.comparison`.

Bad input raises :class:`ComparisonError` (the message names the problem and the fix).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import shutil
from typing import Any, Dict, Optional, Protocol, Sequence

import numpy as np

from custom_modules.data.dataio import DataError, read_speaker_csv
from custom_modules.evaluation import EVALUATION_ERRORS, evaluate, load_eval_hparams
from custom_modules.experiment import (
    RECORD,
    default_eval_folder,
    file_sha256,
    is_pretrained_folder,
    load_experiment,
)
from custom_modules.models.model_cost import count_parameters, macs_per_second
from custom_modules.scoring.bootstrap import speaker_bootstrap_trials
from custom_modules.scoring.metrics import verification_metrics
from custom_modules.scoring.trials import read_scores
from custom_modules.studies.comparison_report import FLOOR_NAME

__all__ = [
    "Row",
    "ComparisonError",
    "ComparisonOptions",
    "system_label",
    "trial_list",
    "evaluation",
    "feature_dim",
    "training_seconds",
    "copy_logs",
    "trial_fields",
    "metric_fields",
    "describe_system",
    "speaker_map",
    "csv_speakers",
    "scores_path",
    "floor_row",
]

Row = Dict[str, Any]


class ComparisonError(ValueError):
    """Systems that cannot be compared, or missing input: the message names the fix."""


class ComparisonOptions(Protocol):
    """What :func:`custom_modules.studies.comparison.compare` reads (``recipes/compare.py``'s parsed arguments)."""

    experiments: Sequence[str]
    name: str
    trials: Optional[str]
    test_annotation: Optional[str]
    data_folder: Optional[str]
    score_norm: str
    reeval: bool
    resamples: int
    output_root: str
    no_floor: bool


def system_label(folder: str) -> str:
    """``exp/res2net_am_demo/1986`` -> ``res2net_am_demo/1986`` (name/seed of a training run);
    a model folder (exported, pretrained, floor) has no seed level: ``exp/floor`` -> ``floor``."""
    parts = os.path.normpath(os.path.abspath(folder)).split(os.sep)
    return parts[-1] if is_pretrained_folder(folder) else "/".join(parts[-2:])


def trial_list(folder: str, options: ComparisonOptions) -> str:
    """The trial list ``folder`` is compared on: ``--trials``, else ``trials.txt`` of
    ``--data_folder`` or of the data folder the experiment was trained from."""
    if options.trials:
        return options.trials
    data_folder = options.data_folder
    if data_folder is None and os.path.isfile(os.path.join(folder, RECORD)):
        with open(os.path.join(folder, RECORD)) as handle:
            data_folder = json.load(handle).get("data_folder")
    if data_folder is None:
        raise ComparisonError(
            f"{folder} names no data folder (a model folder); pass --trials=<file> or --data_folder=<dir>"
        )
    return os.path.join(data_folder, "trials.txt")


def evaluation(folder: str, options: ComparisonOptions, force: bool = False) -> Dict[str, Any]:
    """results.json of the experiment on its trial list (:func:`trial_list`), from the
    evaluation folder keyed by that list's content, evaluating in this process if it is missing
    (or always, with ``force``). ``_folder`` (not in the file) is where it lies."""
    trials = trial_list(folder, options)
    try:
        out = default_eval_folder(folder, trials)
    except DataError as error:
        raise ComparisonError(str(error)) from None
    results_path = os.path.join(out, "results.json")
    if os.path.isfile(results_path) and not options.reeval and not force:
        with open(results_path) as handle:
            results = json.load(handle)
        if results.get("trials_sha256") == file_sha256(trials) and options.score_norm in results["systems"]:
            return {**results, "_folder": out}
    overrides = {
        "experiment": folder,
        "score_norm": ",".join(dict.fromkeys(["none", options.score_norm])),
        "output_folder": out,
        "trials": trials,
    }
    for key in ("test_annotation", "data_folder"):
        if getattr(options, key):
            overrides[key] = getattr(options, key)
    print(f"evaluating {folder} on {trials} ...", flush=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its summary; the table below has the figures
            results = evaluate(load_eval_hparams(overrides), "cpu")
    except EVALUATION_ERRORS as error:
        raise ComparisonError(f"evaluating {folder} failed: {error}") from None
    return {**results, "_folder": out}


def feature_dim(experiment: Any) -> int:
    """Features per frame the encoder takes (from the feature pipeline itself)."""
    import torch

    with torch.no_grad():
        return int(experiment.extractor.compute_features(torch.zeros(1, 16000)).shape[-1])


def training_seconds(folder: str) -> Dict[str, Optional[float]]:
    """Epochs, median and total training seconds of the run (its ``metrics.jsonl``; all None
    without one)."""
    path = os.path.join(folder, "metrics.jsonl")
    if not os.path.isfile(path):
        return {"epochs": None, "seconds_per_epoch": None, "total_seconds": None}
    with open(path) as handle:
        seconds = [json.loads(line)["train"]["seconds"] for line in handle if line.strip()]
    return {
        "epochs": len(seconds),
        "seconds_per_epoch": float(np.median(seconds)),
        "total_seconds": float(sum(seconds)),
    }


def copy_logs(folder: str, scores_file: str, logs_folder: str, stem: str) -> None:
    """Keep the run's per-epoch metrics and its evaluation summary beside the comparison
    (``logs/<name>_<seed>.metrics.jsonl`` and ``.eval_summary.md``), so that a committed
    results folder still shows how each row was trained once ``exp/`` is gone."""
    sources = {
        "metrics.jsonl": os.path.join(folder, "metrics.jsonl"),
        "eval_summary.md": os.path.join(os.path.dirname(scores_file), "summary.md"),
    }
    for suffix, source in sources.items():
        if os.path.isfile(source):
            os.makedirs(logs_folder, exist_ok=True)
            shutil.copyfile(source, os.path.join(logs_folder, f"{stem}.{suffix}"))


def trial_fields(
    folder: str,
    results: Dict[str, Any],
    options: ComparisonOptions,
    trials: list,
    scores: np.ndarray,
    labels: np.ndarray,
) -> Row:
    """A row's trial list and, for the paired comparisons (keys starting with ``_``, not
    written), its scores and the utterance -> speaker map."""
    return {
        "trials": results["trials"],
        "trials_sha256": results["trials_sha256"],
        "n_target": results["n_target"],
        "n_nontarget": results["n_nontarget"],
        "_scores": (scores[labels == 1], scores[labels == 0]),
        "_trials": (trials, scores, labels),
        "_speakers": speaker_map(folder, results, options),
    }


def metric_fields(metrics: Dict[str, Any], interval: Dict[str, Any]) -> Row:
    """A row's EER and minDCF with their speaker-bootstrap intervals."""
    return {
        "eer": metrics["eer"],
        "eer_interval_95": (interval["eer"]["low"], interval["eer"]["high"]),
        "min_dcf": {str(d["p_target"]): d["min_dcf"] for d in metrics["min_dcf"]},
        "min_dcf_interval_95": {str(d["p_target"]): (d["low"], d["high"]) for d in interval["min_dcf"]},
        "bootstrap_warning": interval["warning"],
        "n_speakers": interval["n_speakers"],
    }


def describe_system(folder: str, options: ComparisonOptions, out_folder: str) -> Row:
    """The table row of one experiment, evaluated on its trial list (:func:`evaluation`); copies
    its hparams (``hparams/``) and logs (``logs/``) into ``out_folder``."""
    experiment = load_experiment(folder, "last")  # for the encoder's size and cost only
    results = evaluation(folder, options)
    metrics = results["systems"][options.score_norm]
    scores_file = scores_path(folder, results, f"scores_{options.score_norm}.txt")
    trials, scores = read_scores(scores_file)
    labels = np.array([t.label for t in trials])
    p_targets = tuple(results["p_targets"])  # the priors the evaluation measured (hparams/eval.yaml)
    interval = speaker_bootstrap_trials(
        trials,
        scores,
        p_targets=p_targets,
        resamples=options.resamples,
        seed=0,
        speaker_map=speaker_map(folder, results, options),
    )
    label = system_label(folder)
    hparams_copy = os.path.join(out_folder, "hparams", label.replace("/", "_") + ".yaml")
    os.makedirs(os.path.dirname(hparams_copy), exist_ok=True)
    shutil.copyfile(os.path.join(folder, "hyperparams.yaml"), hparams_copy)
    copy_logs(folder, scores_file, os.path.join(out_folder, "logs"), label.replace("/", "_"))
    encoder = experiment.extractor.embedding_model
    return {
        "system": label,
        "name": label.split("/")[0],
        "folder": os.path.abspath(folder),
        "checkpoint": os.path.basename(results.get("checkpoint") or experiment.checkpoint),  # the evaluated one
        **metric_fields(metrics, interval),
        "parameters": count_parameters(encoder),
        "macs_per_second": macs_per_second(encoder, feature_dim(experiment)),
        "training": training_seconds(folder),
        "embedding_audio_seconds_per_second": (results.get("embedding") or {}).get("audio_seconds_per_second"),
        "hparams_copy": os.path.relpath(hparams_copy, out_folder),
        **trial_fields(folder, results, options, trials, scores, labels),
    }


def speaker_map(folder: str, results: Dict[str, Any], options: ComparisonOptions) -> Dict[str, str]:
    """Utterance -> speaker of the trial list, from the test CSV's ``spk_id`` that the
    evaluation used (the bootstrap resamples these speakers, never a part of an ID's text)."""
    csv = options.test_annotation or results.get("test_annotation")
    if not csv:
        raise ComparisonError(
            f"{folder}: its evaluation does not name its test CSV (made before eval.py recorded "
            f"it); pass --test_annotation=<csv> or --reeval"
        )
    try:
        return csv_speakers(csv)
    except DataError as error:
        raise ComparisonError(str(error)) from None


@functools.lru_cache(maxsize=None)
def csv_speakers(csv: str) -> Dict[str, str]:
    """ID -> spk_id of a speaker CSV, read once per compare run however many rows share it."""
    return {row["ID"]: row["spk_id"] for row in read_speaker_csv(csv)}


def scores_path(folder: str, results: Dict[str, Any], filename: str) -> str:
    """A scores file of the evaluation that ``results`` came from (:func:`evaluation`)."""
    return os.path.join(results["_folder"], filename)


def floor_row(folder: str, options: ComparisonOptions) -> Optional[Row]:
    """The no-learning floor as a row of the table, from the floor scores that the evaluation
    wrote beside the first system's (the same trials; raw cosine). An evaluation made before
    eval.py wrote them is run again. None, with a note, when there is no floor (a pretrained
    or exported model folder names no training data)."""
    results = evaluation(folder, options)
    if not (results.get("floor") or {}).get("scores_file"):
        results = evaluation(folder, options, force=True)
    floor = results.get("floor") or {}
    if not floor.get("scores_file"):
        note = (results.get("floor_comparison") or {}).get("note") or "no floor scores"
        print(f"note: no floor row: {note}")
        return None
    trials, scores = read_scores(scores_path(folder, results, floor["scores_file"]))
    labels = np.array([t.label for t in trials])
    p_targets = tuple(results["p_targets"])
    metrics = verification_metrics(scores[labels == 1], scores[labels == 0], p_targets=p_targets)
    interval = speaker_bootstrap_trials(
        trials,
        scores,
        p_targets=p_targets,
        resamples=options.resamples,
        seed=0,
        speaker_map=speaker_map(folder, results, options),
    )
    return {
        "system": FLOOR_NAME,
        "name": FLOOR_NAME,
        "description": f"no learning: {floor['system']} (raw cosine; global statistics of "
        f"{floor['train_utterances']} training utterances)",
        "folder": None,
        "checkpoint": None,
        **metric_fields(metrics, interval),
        "parameters": 0,
        "macs_per_second": None,
        "training": {"epochs": None, "seconds_per_epoch": None, "total_seconds": None},
        "embedding_audio_seconds_per_second": None,
        "hparams_copy": None,
        **trial_fields(folder, results, options, trials, scores, labels),
    }
