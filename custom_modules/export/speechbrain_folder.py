"""Write a trained experiment as a SpeechBrain pretrained speaker model folder.

The folder has the layout of SpeechBrain's ``spkrec-ecapa-voxceleb``: ``hyperparams.yaml``
(feature pipeline, normalisation and encoder exactly as trained, plus ``modules`` and a
``pretrainer`` without paths, so ``SpeakerRecognition.from_hparams`` reads
``<source>/embedding_model.ckpt`` from the folder itself and downloads nothing), ``embedding_model.ckpt`` (a state
dict), ``mean_var_norm.ckpt`` (the normaliser's statistics: a global normaliser needs them),
``label_encoder.txt``, and ``model_card.json`` (where it came from, and the
calibration and decision threshold when given). The custom encoder resolves from
``custom_modules``, which must be importable where the model is loaded.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import tempfile
from typing import Any, Dict, Optional

import torch

from custom_modules.data.preparation import is_inside, publish_folder
from custom_modules.experiment import Experiment

__all__ = ["INFERENCE_KEYS", "export_experiment", "read_model_card"]

INFERENCE_KEYS = ("compute_features", "mean_var_norm", "embedding_model")
CARD = "model_card.json"
NORMALIZER_FILE = "mean_var_norm.ckpt"  # the normaliser's statistics (read by load_pretrained)

LOADING_PART = """
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>

# No paths: from_hparams(source=<this folder>) collects <source>/embedding_model.ckpt, so the
# folder can be moved or copied. label_encoder.txt lists the training speakers (not needed
# for verification).
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        mean_var_norm: !ref <mean_var_norm>
"""


def _inference_yaml(experiment_hparams_file: str, header: str) -> str:
    """The inference nodes of a saved training hyperparams.yaml, re-emitted with their tags."""
    import io

    import ruamel.yaml

    yaml = ruamel.yaml.YAML(typ="rt")
    with open(experiment_hparams_file) as handle:
        tree = yaml.load(handle)
    missing = [k for k in INFERENCE_KEYS if k not in tree]
    if missing:
        raise ValueError(f"{experiment_hparams_file}: no {missing}; cannot export this experiment")
    out = ruamel.yaml.comments.CommentedMap()
    out["sample_rate"] = tree.get("sample_rate", 16000)
    for key in INFERENCE_KEYS:
        out[key] = tree[key]
    stream = io.StringIO()
    yaml.dump(out, stream)
    text = re.sub(r"&id\d+ ", "", stream.getvalue())  # anchors of the training file mean nothing here
    if "*id" in text:
        raise ValueError(f"{experiment_hparams_file}: the encoder refers to other keys ({text!r}); cannot export it")
    return header + text + LOADING_PART


def check_export_output(output: str, experiment_folder: str, overwrite: bool) -> None:
    """Refuse an export ``output`` that would destroy what the export did not make: the
    experiment folder itself, a folder inside it or holding it, or (with ``overwrite``) a
    non-empty folder that is not a model folder written by an export (no ``model_card.json``).
    Raises ``FileExistsError`` naming the folder and what to do.
    """
    out, source = os.path.realpath(output), os.path.realpath(experiment_folder)
    if is_inside(out, source):
        raise FileExistsError(
            f"--output {output} is the experiment folder {source} or inside it: an export never "
            f"writes into the folder it reads; choose a folder outside it, e.g. models/<name>"
        )
    if is_inside(source, out):
        raise FileExistsError(
            f"--output {output} holds the experiment {source}: replacing it would delete the "
            f"experiment; choose another folder, e.g. models/<name>"
        )
    if os.path.exists(out) and not os.path.isdir(out):
        raise FileExistsError(f"--output {output} exists and is not a folder; choose another --output")
    if os.path.isdir(out) and os.listdir(out):
        if not overwrite:
            raise FileExistsError(f"{output} exists and is not empty; choose another --output or pass --overwrite")
        if not os.path.isfile(os.path.join(out, CARD)):
            raise FileExistsError(
                f"--output {output} is not a model folder written by recipes/export.py (it has no "
                f"{CARD}); --overwrite replaces only those: choose a new or empty folder"
            )


def export_experiment(
    experiment: Experiment,
    output: str,
    overwrite: bool = False,
    calibration: Optional[Dict[str, Any]] = None,
    extra_card: Optional[Dict[str, Any]] = None,
) -> str:
    """Export ``experiment`` (from :func:`custom_modules.experiment.load_experiment`) to ``output``.

    The folder is written into a temporary sibling and renamed into place; an existing
    non-empty ``output`` is refused unless ``overwrite``, and even then unless it is a model
    folder this function wrote (:func:`check_export_output`).
    """
    output = os.path.abspath(output)
    check_export_output(output, experiment.folder, overwrite)
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        header = (
            f"# Speaker embedding model exported by recipes/export.py from {os.path.abspath(experiment.folder)}\n"
            f"# (checkpoint {os.path.basename(experiment.checkpoint)}). Load it with\n"
            f"#   SpeakerRecognition.from_hparams(source=<this folder>, savedir=<a folder>)\n"
            f"# in a Python where this project is installed (scripts/ensure_env.sh: .venv, or pip install -e <project>).\n\n"
        )
        text = _inference_yaml(os.path.join(experiment.folder, "hyperparams.yaml"), header)
        thresholds = (extra_card or {}).get("thresholds")
        if thresholds:  # plain data: custom_modules.export.interface.CalibratedSpeakerRecognition decides with it
            verification = {"thresholds": thresholds, "calibration": calibration}
            text += (
                "\n# Decision thresholds on raw cosine scores (measured on the named trial lists) and the\n"
                "# calibration score -> log-likelihood ratio, for CalibratedSpeakerRecognition\n"
                "# (custom_modules/export/interface.py); SpeechBrain's SpeakerRecognition ignores them and\n"
                "# decides at a cosine of 0.25.\n"
                f"verification: {json.dumps(verification)}\n"
            )
        with open(os.path.join(staging, "hyperparams.yaml"), "w") as handle:
            handle.write(text)
        torch.save(experiment.extractor.embedding_model.state_dict(), os.path.join(staging, "embedding_model.ckpt"))
        normalizer = experiment.extractor.mean_var_norm
        if hasattr(normalizer, "_statistics_dict"):  # SpeechBrain's InputNormalization: a global or
            # speaker-level normaliser carries statistics learned in training, which the model needs
            torch.save(normalizer._statistics_dict(), os.path.join(staging, NORMALIZER_FILE))
        encoder_file = os.path.join(experiment.folder, "label_encoder.txt")
        if os.path.isfile(encoder_file):
            shutil.copyfile(encoder_file, os.path.join(staging, "label_encoder.txt"))
        card = {
            "source_experiment": os.path.abspath(experiment.folder),
            "checkpoint": os.path.basename(experiment.checkpoint),
            "sample_rate": experiment.record.get("sample_rate", 16000),
            "exported": datetime.datetime.now().isoformat(timespec="seconds"),
            "calibration": calibration,
            **(extra_card or {}),
        }
        with open(os.path.join(staging, CARD), "w") as handle:
            json.dump(card, handle, indent=2)
        publish_folder(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


def read_model_card(folder: str) -> Dict[str, Any]:
    """The exported model's card (empty when the folder has none)."""
    path = os.path.join(folder, CARD)
    if not os.path.isfile(path):
        return {}
    with open(path) as handle:
        return json.load(handle)
