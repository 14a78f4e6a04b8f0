"""Preflight: the configuration and data checks run from the hparams alone, before training.

Reads the rows a run trains, validates and tests on (:func:`read_data_rows`, as the recipe
splits them), utterance durations (:func:`utterance_seconds`) and an existing label
encoder (:func:`read_label_map`); :func:`run_config_checks` runs the checks of
:mod:`custom_modules.diagnostics.config_checks` on them, :func:`training_audio_verdict`
reads every audio file once, and :func:`preflight` does all of it for the start of
``recipes/train.py``. No model is run.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import ast
import os
from collections import Counter
from typing import Dict, List, NamedTuple, Optional, Sequence

from custom_modules.diagnostics.config_checks import (
    check_batch_size,
    check_classes,
    check_crop,
    check_learning_rate,
    check_scale_margin,
    check_speakers,
    check_test_overlap,
    check_validation_speakers,
)
from custom_modules.diagnostics.verdicts import FAIL, Verdict

__all__ = [
    "utterance_seconds",
    "read_label_map",
    "DataRows",
    "read_data_rows",
    "run_config_checks",
    "training_audio_verdict",
    "preflight",
]


def utterance_seconds(
    rows: Sequence[Dict[str, str]], data_folder: str, sample_rate: int = 16000, max_files: int = 1000
) -> List[float]:
    """Utterance durations in seconds: ``stop - start`` (samples), else the ``duration``
    column, else the file header (soundfile) for an evenly spaced sample of ``max_files``.

    Example
    -------
    >>> utterance_seconds([{"start": "0", "stop": "16000"}, {"duration": "2.5"}], "/data")
    [1.0, 2.5]
    """
    seconds: List[float] = []
    unknown = []
    for row in rows:
        start, stop, duration = row.get("start"), row.get("stop"), row.get("duration")
        if stop not in (None, ""):
            seconds.append((float(stop) - float(start or 0)) / sample_rate)
        elif duration not in (None, ""):
            seconds.append(float(duration))
        else:
            unknown.append(row)
    if unknown:
        import soundfile as sf

        from custom_modules.data.dataio import resolve_audio_path

        step = max(1, len(unknown) // max_files)
        for row in unknown[::step][:max_files]:
            try:
                info = sf.info(resolve_audio_path(row["wav"], data_folder))
            except Exception:  # noqa: BLE001 - the audio verdict names unreadable files
                continue
            seconds.append(info.frames / info.samplerate)
    return seconds


def read_label_map(path: str) -> Optional[Dict[str, int]]:
    """Speaker -> index from a SpeechBrain ``label_encoder.txt`` (None if the file is absent).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "label_encoder.txt")
    >>> _ = open(path, "w").write("'a' => 0\\n'b' => 1\\n================\\n'starting_index' => 0\\n")
    >>> read_label_map(path)
    {'a': 0, 'b': 1}
    """
    if not os.path.isfile(path):
        return None
    mapping: Dict[str, int] = {}
    with open(path) as handle:
        for line in handle:
            if line.startswith("====="):
                break
            if " => " in line:
                label, index = line.rstrip("\n").split(" => ", 1)
                mapping[str(ast.literal_eval(label))] = int(index)
    return mapping


class DataRows(NamedTuple):
    """The rows a run trains, validates and tests on, as the recipe will split them."""

    train: List[Dict[str, str]]
    valid: List[Dict[str, str]]
    test: Optional[List[Dict[str, str]]]
    valid_source: str
    test_source: str
    train_source: str


def read_data_rows(hparams: dict) -> DataRows:
    """Read the training CSV (and validation/test CSVs) and split them as the recipe does.

    Splits: :func:`custom_modules.data.dataio.resolve_splits`, the function train.py uses (a prepared
    folder's valid.csv included). Test: ``test_annotation`` if set, else
    ``<data_folder>/test.csv`` if it exists. Raises ``DataError`` for unreadable CSVs.
    """
    from custom_modules.data.dataio import read_speaker_csv, resolve_splits

    train_csv = hparams["train_annotation"]
    train, valid, _, valid_source = resolve_splits(
        train_csv,
        hparams.get("valid_annotation"),
        float(hparams.get("valid_fraction", 0.1)),
        int(hparams.get("seed", 1986)),
        int(hparams.get("valid_speakers", 0) or 0),
        hparams.get("data_folder"),
    )
    test_csv = hparams.get("test_annotation") or os.path.join(hparams.get("data_folder", ""), "test.csv")
    test = read_speaker_csv(test_csv) if os.path.isfile(test_csv) else None
    return DataRows(train, valid, test, valid_source, test_csv, train_csv)


def train_batch_size(hparams: dict) -> int:
    """The training batch size: ``train_dataloader_options["batch_size"]``, else ``batch_size``, else 1."""
    options = hparams.get("train_dataloader_options") or {}
    return int(options.get("batch_size", hparams.get("batch_size", 1)))


def _optimizer(hparams: dict):
    opt_class = hparams.get("opt_class")
    func = getattr(opt_class, "func", opt_class)
    name = getattr(func, "__name__", type(func).__name__)
    lr = hparams.get("lr")
    if lr is None:
        lr = (getattr(opt_class, "keywords", None) or {}).get("lr")
    return name, lr


def _head_settings(hparams: dict):
    """num_classes, scale, final margin, margin warm-up and whether the head returns counts."""
    head = hparams.get("classifier")
    num_classes = hparams.get("num_classes", getattr(head, "num_classes", None))
    scale = getattr(head, "scale", hparams.get("scale"))
    margin = getattr(head, "final_margin", getattr(head, "margin", hparams.get("margin", 0.0)))
    schedule = getattr(head, "margin_schedule", None)
    if schedule is not None:
        warmup = schedule.end_epoch > schedule.start_epoch
    else:
        warmup = float(hparams.get("margin_warmup_end", 0) or 0) > float(hparams.get("margin_warmup_start", 0) or 0)
    from custom_modules.models.am_softmax import AMSoftmax

    counts = True if isinstance(head, AMSoftmax) else None
    return num_classes, scale, margin, warmup, counts


def run_config_checks(
    hparams: dict,
    train_rows: Sequence[Dict[str, str]],
    valid_rows: Sequence[Dict[str, str]],
    test_rows: Optional[Sequence[Dict[str, str]]] = None,
    durations: Optional[Sequence[float]] = None,
    label_map: Optional[Dict[str, int]] = None,
    train_source: str = "the training CSV",
    valid_source: str = "the validation split",
    test_source: str = "test.csv",
) -> List[Verdict]:
    """Config and data checks (no model is run), in the order of the table.

    ``hparams`` is the loaded hyperpyyaml dict (``train_dataloader_options`` or
    ``batch_size``, ``crop_seconds``, ``num_classes``, ``classifier`` or ``scale``/``margin``,
    ``lr``, ``opt_class``, ``data_folder``, ``sample_rate``); ``train_rows``/``valid_rows``
    the split the recipe trains on; ``durations`` (seconds of the training utterances) are
    read from the rows when omitted; ``label_map`` is an existing label encoder's mapping.
    """
    train_speakers = sorted({r["spk_id"] for r in train_rows})
    valid_speakers = sorted({r["spk_id"] for r in valid_rows})
    per_speaker = Counter(r["spk_id"] for r in train_rows)
    for r in valid_rows:
        if r["spk_id"] in per_speaker:
            per_speaker[r["spk_id"]] += 1
    num_classes, scale, margin, warmup, counts = _head_settings(hparams)
    per_speaker_classes = int(hparams.get("classes_per_speaker", 1) or 1)  # speed perturbation: 3
    speaker_classes = num_classes
    if num_classes is not None and per_speaker_classes > 1 and int(num_classes) % per_speaker_classes == 0:
        speaker_classes = int(num_classes) // per_speaker_classes
    opt_name, lr = _optimizer(hparams)
    if durations is None:
        durations = utterance_seconds(
            train_rows, hparams.get("data_folder", ""), int(hparams.get("sample_rate", 16000))
        )
    verdicts = [
        check_batch_size(
            train_batch_size(hparams),
            len(train_rows),
            bool((hparams.get("train_dataloader_options") or {}).get("drop_last", False)),
            counts,
        ),
        check_crop(hparams.get("crop_seconds"), durations, sampled_from=len(train_rows)),
        check_classes(
            speaker_classes if speaker_classes is not None else len(train_speakers),
            train_speakers,
            label_map,
            train_source,
        ),
    ]
    if scale is not None:
        verdicts.append(check_scale_margin(scale, margin or 0.0, num_classes or len(train_speakers), warmup=warmup))
    verdicts += [
        check_speakers(dict(per_speaker)),
        check_validation_speakers(train_speakers, valid_speakers, len(valid_rows), valid_source),
        check_test_overlap(
            train_speakers, None if test_rows is None else [r["spk_id"] for r in test_rows], test_source
        ),
        check_learning_rate(lr, opt_name),
    ]
    return verdicts


def training_audio_verdict(hparams: dict) -> Verdict:
    """The ``audio`` verdict over the CSVs a run trains and validates on (every row's file
    read once: :mod:`custom_modules.data.audio_check`)."""
    from custom_modules.data.audio_check import audio_verdict
    from custom_modules.data.dataio import effective_valid_annotation

    valid_csv = effective_valid_annotation(hparams.get("valid_annotation"), hparams.get("data_folder"))
    csvs = [hparams["train_annotation"]] + ([valid_csv] if valid_csv else [])
    return audio_verdict(csvs, hparams.get("data_folder", ""), hparams.get("sample_rate"))


def preflight(hparams: dict) -> List[Verdict]:
    """The config and data checks for the start of ``recipes/train.py``: reads the CSVs
    named by the hparams (and ``<output_folder>/label_encoder.txt`` when resuming), runs
    no model; a CSV that cannot be read gives one FAIL verdict named ``data``."""
    from custom_modules.data.dataio import DataError

    try:
        rows = read_data_rows(hparams)
        label_map = read_label_map(os.path.join(hparams.get("output_folder", ""), "label_encoder.txt"))
        audio = training_audio_verdict(hparams)  # every file first: a bad one would crash the others
        if audio.status == FAIL:
            return [audio]
        verdicts = run_config_checks(
            hparams,
            rows.train,
            rows.valid,
            rows.test,
            label_map=label_map,
            train_source=rows.train_source,
            valid_source=rows.valid_source,
            test_source=rows.test_source,
        )
        return verdicts + [audio]
    except DataError as error:
        return [Verdict("data", FAIL, str(error), "fix the CSV or --data_folder")]
