"""A training output folder as an object: its hparams, trained extractor and data record.

``recipes/train.py`` writes ``hyperparams.yaml`` (as run, overrides applied),
``label_encoder.txt``, ``train_split.csv``/``valid_split.csv``, ``experiment.json`` (absolute
data paths, sample rate, speakers) and checkpoints in ``save/``. ``load_experiment`` reads
them back so evaluation and export use exactly the trained feature pipeline and encoder,
with nothing configured twice.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, NamedTuple, Optional

import torch

from custom_modules.data.dataio import DataError
from custom_modules.models.embedding import EmbeddingExtractor
from custom_modules.outputs.atomic import atomic_path

__all__ = [
    "ExperimentError",
    "Experiment",
    "write_experiment_record",
    "is_pretrained_folder",
    "load_pretrained",
    "load_experiment",
    "default_eval_folder",
    "eval_folder_name",
    "file_sha256",
    "trials_digest",
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
    with atomic_path(path) as tmp, open(tmp, "w") as handle:  # never half-written
        json.dump(record, handle, indent=2, sort_keys=True)
    return path


CHECKPOINT_CHOICES = ("auto", "last", "best", "heldout_eer", "eer")  # eer: the old name of heldout_eer
HELDOUT_KEYS = ("heldout_eer", "valid_eer")  # the checkpoint meta key; valid_eer in runs made before


def _latest_or_best_checkpoint(save_folder: str, which: str) -> str:
    """The checkpoint to evaluate: see :func:`load_experiment` for ``which``."""
    from speechbrain.utils.checkpoints import Checkpointer

    checkpointer = Checkpointer(save_folder)
    which = "heldout_eer" if which == "eer" else which
    listed = checkpointer.list_checkpoints()
    key = next((k for k in HELDOUT_KEYS if any(k in c.meta for c in listed)), None)
    with_eer = [c for c in listed if key in c.meta]
    if which == "heldout_eer" and not with_eer:
        raise ExperimentError(
            f"{save_folder}: no checkpoint records a held-out EER (the run had valid_speakers: 0); "
            f"use checkpoint=auto, last or best"
        )
    if which == "heldout_eer" or (which == "auto" and with_eer):
        found = checkpointer.find_checkpoint(min_key=key)
    elif which == "best":
        found = checkpointer.find_checkpoint(max_key="valid_acc")
    else:
        found = checkpointer.find_checkpoint()
    if found is None:
        raise ExperimentError(f"{save_folder}: no checkpoint (CKPT+...) found; has the training run finished an epoch?")
    return str(found.path)


def load_experiment(
    folder: str, checkpoint: str = "auto", device: str = "cpu", trust_model_code: bool = False
) -> Experiment:
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
    trust_model_code : bool
        For a model folder: load its ``hyperparams.yaml`` even when it uses tags beyond the
        allow-list of :mod:`custom_modules.export.safe_yaml` (it then runs whatever they call).
    """
    from hyperpyyaml import load_hyperpyyaml

    if is_pretrained_folder(folder):
        return load_pretrained(folder, device, trust_model_code=trust_model_code)
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


def load_pretrained(
    folder: str, device: str = "cpu", sample_rate: int = 16000, trust_model_code: bool = False
) -> Experiment:
    """Load a SpeechBrain pretrained speaker model folder (``spkrec-ecapa-voxceleb`` layout)
    offline: its ``hyperparams.yaml`` builds ``compute_features``, ``mean_var_norm`` and
    ``embedding_model``; ``embedding_model.ckpt`` is read with ``weights_only=True``. Its
    ``pretrainer`` (which would download) is not used. Embeddings are the raw ones that
    ``SpeakerRecognition.encode_batch`` returns with ``normalize=False`` (as in its
    ``verify_batch``).

    The YAML is code (HyperPyYAML calls what its tags name). Unless ``trust_model_code``,
    it is first read without constructing anything and refused when a tag is not data or
    ``!new:`` of a known model class (:func:`custom_modules.export.safe_yaml.check_model_yaml`):
    folders exported by this project and SpeechBrain's speaker models pass."""
    from hyperpyyaml import load_hyperpyyaml

    from custom_modules.export.safe_yaml import UntrustedModelError, check_model_yaml

    overrides = {"pretrained_path": os.path.abspath(folder), "pretrainer": None}
    yaml_path = os.path.join(folder, "hyperparams.yaml")
    with open(yaml_path) as handle:
        text = handle.read()
    if not trust_model_code:
        try:
            check_model_yaml(text, yaml_path)
        except UntrustedModelError as error:
            raise ExperimentError(str(error)) from None
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
        raise ExperimentError(
            f"{path}: not a state dict of the embedding_model in hyperparams.yaml ({error})"
        ) from error
    statistics = os.path.join(folder, "mean_var_norm.ckpt")  # written by export.py since the normaliser's
    if os.path.isfile(statistics) and hasattr(hparams["mean_var_norm"], "_load_statistics_dict"):  # state matters
        try:
            hparams["mean_var_norm"]._load_statistics_dict(
                torch.load(statistics, map_location=device, weights_only=True)
            )
        except Exception as error:
            raise ExperimentError(
                f"{statistics}: not the statistics of the mean_var_norm in hyperparams.yaml ({error})"
            ) from error
    extractor = EmbeddingExtractor(hparams["compute_features"], hparams["mean_var_norm"], hparams["embedding_model"])
    record = {
        "sample_rate": hparams.get("sample_rate", sample_rate),
        "data_folder": None,
        "train_csv": None,
        "pretrained": True,
    }
    return Experiment(folder, hparams, extractor.to(device).eval(), path, record)


def file_sha256(path: str) -> str:
    """Hex sha256 of a file's bytes.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "trials.txt")
    >>> _ = open(path, "w").write("1 a b\\n")
    >>> file_sha256(path)[:12]
    '075042c3bc10'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def trials_digest(trials: str) -> str:
    """The sha256 of a trial list's content; :class:`DataError` naming the file when it is missing."""
    if not os.path.isfile(trials):
        raise DataError(
            f"{trials}: trial list not found; pass --trials=<file> "
            "(lines '<1|0> <enrol utterance ID> <test utterance ID>')"
        )
    return file_sha256(trials)


def eval_folder_name(trials: str, digest: Optional[str] = None) -> str:
    """An evaluation's folder name, keyed by its trial list: the file's stem and the first 10
    hex digits of the sha256 of its content (``trials-1a2b3c4d5e``; ``digest`` when the caller
    has it already). Another list, or the same file edited, gets another folder; results of one
    list never overwrite another's."""
    digest = digest or trials_digest(trials)
    stem = os.path.splitext(os.path.basename(trials))[0]
    return f"{stem}-{digest[:10]}"


def default_eval_folder(folder: str, trials: str, digest: Optional[str] = None) -> str:
    """Where recipes/eval.py writes the evaluation of ``trials``: ``<folder>/eval/<name>``
    (:func:`eval_folder_name`) inside a training output folder, or, for a pretrained model
    folder (which belongs to its user), under ``exp/pretrained/<model name>/eval/<name>``."""
    name = eval_folder_name(trials, digest)
    if is_pretrained_folder(folder):
        model = os.path.basename(os.path.normpath(os.path.abspath(folder)))
        return os.path.join("exp", "pretrained", model, "eval", name)
    return os.path.join(folder, "eval", name)


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
