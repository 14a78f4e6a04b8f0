"""A training output folder as an object: its hparams, trained extractor and data record.

``recipes/train.py`` writes ``hyperparams.yaml`` (as run, overrides applied),
``label_encoder.txt``, ``train_split.csv``/``valid_split.csv``, ``experiment.json`` (absolute
data paths, sample rate, speakers) and checkpoints in ``save/``. ``load_experiment`` reads
them back so evaluation and export use exactly the trained feature pipeline and encoder,
with nothing configured twice.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, NamedTuple, Optional

import torch

from custom_modules.embedding import EmbeddingExtractor

__all__ = [
    "ExperimentError",
    "Experiment",
    "write_experiment_record",
    "is_pretrained_folder",
    "load_pretrained",
    "load_experiment",
    "default_eval_folder",
    "checkpoint_epoch",
]

RECORD = "experiment.json"


class ExperimentError(ValueError):
    """A folder that is not (or no longer) a usable training output folder."""


class Experiment(NamedTuple):
    folder: str
    hparams: Dict[str, Any]
    extractor: EmbeddingExtractor
    checkpoint: str
    record: Dict[str, Any]


def write_experiment_record(folder: str, **fields: Any) -> str:
    """Write ``experiment.json`` (paths made absolute) into a training output folder."""
    record = {k: (os.path.abspath(v) if k.endswith(("_folder", "_csv")) and v else v) for k, v in fields.items()}
    path = os.path.join(folder, RECORD)
    with open(path, "w") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
    return path


CHECKPOINT_CHOICES = ("auto", "last", "best", "eer")


def _latest_or_best_checkpoint(save_folder: str, which: str) -> str:
    """The checkpoint to evaluate: see :func:`load_experiment` for ``which``."""
    from speechbrain.utils.checkpoints import Checkpointer

    checkpointer = Checkpointer(save_folder)
    with_eer = [c for c in checkpointer.list_checkpoints() if "valid_eer" in c.meta]
    if which == "eer" and not with_eer:
        raise ExperimentError(
            f"{save_folder}: no checkpoint records a held-out EER (the run had valid_speakers: 0); "
            f"use checkpoint=auto, last or best"
        )
    if which == "eer" or (which == "auto" and with_eer):
        found = checkpointer.find_checkpoint(min_key="valid_eer")
    elif which == "best":
        found = checkpointer.find_checkpoint(max_key="valid_acc")
    else:
        found = checkpointer.find_checkpoint()
    if found is None:
        raise ExperimentError(f"{save_folder}: no checkpoint (CKPT+...) found; has the training run finished an epoch?")
    return str(found.path)


def load_experiment(folder: str, checkpoint: str = "auto", device: str = "cpu") -> Experiment:
    """Load the trained extractor of a ``recipes/train.py`` output folder (or of a
    SpeechBrain pretrained-model folder, see :func:`load_pretrained`).

    Arguments
    ---------
    folder : str
        The training ``output_folder``.
    checkpoint : str
        ``"auto"`` (the lowest held-out-speaker EER when the run recorded one, i.e. it
        trained with ``valid_speakers`` > 0; otherwise the last), ``"last"`` (the most
        recent end-of-epoch checkpoint), ``"best"`` (highest closed-set validation
        accuracy) or ``"eer"`` (lowest held-out-speaker EER; an error if none recorded).
    device : str
        Where to put the extractor.
    """
    from hyperpyyaml import load_hyperpyyaml

    if is_pretrained_folder(folder):
        return load_pretrained(folder, device)
    if checkpoint not in CHECKPOINT_CHOICES:
        raise ExperimentError(f"checkpoint must be one of {', '.join(CHECKPOINT_CHOICES)}; got {checkpoint!r}")
    hparams_path = os.path.join(folder, "hyperparams.yaml")
    record_path = os.path.join(folder, RECORD)
    for path in (hparams_path, record_path):
        if not os.path.isfile(path):
            raise ExperimentError(
                f"{folder}: not a training output folder ({os.path.basename(path)} missing); pass the "
                f"--output_folder of a recipes/train.py run, e.g. exp/res2net_am_demo/1986"
            )
    with open(record_path) as handle:
        record = json.load(handle)
    # The saved hparams are as run; neutralise what would touch paths relative to the
    # training run's working directory, and take the class count from the record.
    overrides = {"num_classes": record["num_classes"], "checkpointer": None, "train_logger": None}
    with open(hparams_path) as handle:
        hparams = load_hyperpyyaml(handle, overrides)
    extractor = EmbeddingExtractor(hparams["compute_features"], hparams["mean_var_norm"], hparams["embedding_model"])
    ckpt = _latest_or_best_checkpoint(os.path.join(folder, "save"), checkpoint)
    for name, module in (("embedding_model", extractor.embedding_model), ("normalizer", extractor.mean_var_norm)):
        path = os.path.join(ckpt, f"{name}.ckpt")
        if not os.path.isfile(path):
            raise ExperimentError(f"{ckpt}: {name}.ckpt missing; the checkpoint is incomplete")
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except Exception as error:
            raise ExperimentError(f"{path}: cannot be read as a state dict ({error})") from error
        if hasattr(module, "_load_statistics_dict"):  # SpeechBrain's InputNormalization
            module._load_statistics_dict(state)
        else:
            module.load_state_dict(state)
    return Experiment(folder, hparams, extractor.to(device).eval(), ckpt, record)


def is_pretrained_folder(folder: str) -> bool:
    """A folder in the layout of SpeechBrain's pretrained speaker models (``hyperparams.yaml``
    and ``embedding_model.ckpt`` side by side), as opposed to a training output folder."""
    return (
        os.path.isfile(os.path.join(folder, "hyperparams.yaml"))
        and os.path.isfile(os.path.join(folder, "embedding_model.ckpt"))
        and not os.path.isfile(os.path.join(folder, RECORD))
    )


def load_pretrained(folder: str, device: str = "cpu", sample_rate: int = 16000) -> Experiment:
    """Load a SpeechBrain pretrained speaker model folder (``spkrec-ecapa-voxceleb`` layout)
    offline: its ``hyperparams.yaml`` builds ``compute_features``, ``mean_var_norm`` and
    ``embedding_model``; ``embedding_model.ckpt`` is read with ``weights_only=True``. Its
    ``pretrainer`` (which would download) is not used. Embeddings are the raw ones that
    ``SpeakerRecognition.encode_batch`` returns with ``normalize=False`` (as in its
    ``verify_batch``)."""
    from hyperpyyaml import load_hyperpyyaml

    overrides = {"pretrained_path": os.path.abspath(folder), "pretrainer": None}
    with open(os.path.join(folder, "hyperparams.yaml")) as handle:
        text = handle.read()
    overrides = {k: v for k, v in overrides.items() if f"{k}:" in text}
    hparams = load_hyperpyyaml(text, overrides)
    missing = [k for k in ("compute_features", "mean_var_norm", "embedding_model") if k not in hparams]
    if missing:
        raise ExperimentError(f"{folder}/hyperparams.yaml: no {missing}; not a SpeechBrain speaker-embedding model")
    path = os.path.join(folder, "embedding_model.ckpt")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        hparams["embedding_model"].load_state_dict(state)
    except Exception as error:
        raise ExperimentError(f"{path}: not a state dict of the embedding_model in hyperparams.yaml ({error})") from error
    extractor = EmbeddingExtractor(hparams["compute_features"], hparams["mean_var_norm"], hparams["embedding_model"])
    record = {"sample_rate": hparams.get("sample_rate", sample_rate), "data_folder": None, "train_csv": None,
              "pretrained": True}
    return Experiment(folder, hparams, extractor.to(device).eval(), path, record)


def default_eval_folder(folder: str, trials_stem: str) -> str:
    """Where recipes/eval.py writes: inside a training output folder, or, for a pretrained
    model folder (which belongs to its user), under ``exp/pretrained/<name>/``."""
    if is_pretrained_folder(folder):
        name = os.path.basename(os.path.normpath(os.path.abspath(folder)))
        return os.path.join("exp", "pretrained", name, "eval", trials_stem)
    return os.path.join(folder, "eval", trials_stem)


def checkpoint_epoch(checkpoint: str) -> Optional[int]:
    """The epoch a SpeechBrain checkpoint folder records in its ``CKPT.yaml`` meta, if any.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "CKPT.yaml"), "w").write("epoch: 8\\nvalid_eer: 0.1\\n")
    >>> checkpoint_epoch(folder), checkpoint_epoch(os.path.join(folder, "missing"))
    (8, None)
    """
    import yaml

    try:
        with open(os.path.join(checkpoint, "CKPT.yaml")) as handle:
            epoch = (yaml.safe_load(handle) or {}).get("epoch")
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    return int(epoch) if epoch is not None else None
