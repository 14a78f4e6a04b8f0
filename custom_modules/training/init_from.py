"""Start training from a pretrained encoder (fine-tuning): which file holds it, and loading it
with an error that names every missing, unexpected or mismatched key.

``recipes/train.py --init_from=<folder>`` takes:

- a training output folder of ``recipes/train.py`` (its checkpoint: the lowest held-out EER
  when the run recorded one, else the last; :func:`custom_modules.experiment.load_experiment`'s
  ``auto`` rule);
- a model folder exported by ``recipes/export.py``, or a SpeechBrain pretrained folder such
  as ``spkrec-ecapa-voxceleb`` downloaded beforehand (``embedding_model.ckpt`` in the folder).

Only the encoder (and a normaliser with stored statistics, when the source has one) is
loaded; the AM-Softmax head is built anew for the new speakers. The hparams
``freeze_encoder_epochs: N`` then trains the head alone for the first N epochs (encoder
frozen, its batch norms in evaluation mode) before every layer trains, at the recipe's
learning rate (lower it for fine-tuning, e.g. ``--lr=0.0002``).

``init_head: True`` also keeps the source run's AM-Softmax head: a later stage of the same
training, on the same speakers, such as large-margin fine-tuning (longer crops, a larger
margin, a low learning rate; ``scripts/run_large_margin_crossval.sh``). The source must then
be a ``recipes/train.py`` output folder (exported models keep no head) whose
``label_encoder.txt`` is this run's (:func:`check_same_speakers`).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import torch

__all__ = [
    "InitError",
    "pretrained_files",
    "load_encoder_state",
    "check_same_speakers",
    "head_file",
    "ENCODER_HINT",
    "HEAD_HINT",
]


class InitError(ValueError):
    """The --init_from source cannot initialise this recipe's encoder; the message says why."""


def pretrained_files(folder: str) -> Dict[str, Optional[str]]:
    """The encoder and normaliser state files of ``folder``.

    Returns
    -------
    dict
        ``embedding_model`` (path), ``normalizer`` (path or None) and ``source`` (the
        checkpoint folder or the model folder they come from).

    Raises
    ------
    InitError
        When the folder holds neither a checkpoint nor ``embedding_model.ckpt``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> torch.save({}, os.path.join(folder, "embedding_model.ckpt"))
    >>> files = pretrained_files(folder)
    >>> os.path.basename(files["embedding_model"]), files["normalizer"]
    ('embedding_model.ckpt', None)
    """
    from custom_modules.experiment import ExperimentError, _latest_or_best_checkpoint

    if not os.path.isdir(folder):
        raise InitError(
            f"--init_from {folder}: no such folder; pass a recipes/train.py output folder, a model folder "
            f"of recipes/export.py or a SpeechBrain pretrained folder (with embedding_model.ckpt)"
        )
    source = folder
    if os.path.isdir(os.path.join(folder, "save")) and not os.path.isfile(os.path.join(folder, "embedding_model.ckpt")):
        try:
            source = _latest_or_best_checkpoint(os.path.join(folder, "save"), "auto")
        except ExperimentError as error:
            raise InitError(f"--init_from {folder}: {error}") from None
    encoder = os.path.join(source, "embedding_model.ckpt")
    if not os.path.isfile(encoder):
        raise InitError(
            f"--init_from {folder}: no embedding_model.ckpt in {source}; pass a recipes/train.py output "
            f"folder, a model folder of recipes/export.py or a SpeechBrain pretrained folder"
        )
    normalizer = os.path.join(source, "normalizer.ckpt")  # a training checkpoint's normaliser
    if not os.path.isfile(normalizer):
        normalizer = None
    return {"embedding_model": encoder, "normalizer": normalizer, "source": source}


ENCODER_HINT = (
    "the pretrained model must have the same architecture (encoder, m_channels or channels, n_features, "
    "embedding_dim): use its hparams, or another --init_from"
)
HEAD_HINT = (
    "the head has one row per class (training speakers x speeds) and the embedding size: keep the source run's "
    "speakers, speeds and embedding_dim, or train a new head (init_head: False)"
)


def head_file(source: str) -> str:
    """The AM-Softmax head (``classifier.ckpt``) of a training checkpoint folder ``source``.

    Raises
    ------
    InitError
        When ``source`` holds none: an exported or SpeechBrain model folder keeps no head.

    Example
    -------
    >>> import tempfile
    >>> head_file(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    custom_modules.training.init_from.InitError: init_head: ... holds no classifier.ckpt ...
    """
    path = os.path.join(source, "classifier.ckpt")
    if not os.path.isfile(path):
        raise InitError(
            f"init_head: {source} holds no classifier.ckpt (exported and SpeechBrain model folders keep no AM-Softmax "
            f"head): pass a recipes/train.py output folder as --init_from, or train a new head (init_head: False)"
        )
    return path


def _speaker_lines(path: str) -> list:
    with open(path) as handle:
        return [line.strip() for line in handle if "=>" in line and "starting_index" not in line]


def check_same_speakers(source_folder: str, run_folder: str) -> int:
    """A kept head answers to the source run's classes: ``label_encoder.txt`` of
    ``source_folder`` (the ``--init_from`` training folder) and of ``run_folder`` (this run)
    must map the same speakers to the same indices. Returns the number of speakers.

    Raises
    ------
    InitError
        Naming both files, their speaker counts and the first speaker whose index differs.

    Example
    -------
    >>> import tempfile
    >>> a, b = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> for folder, names in ((a, "xy"), (b, "yx")):
    ...     with open(os.path.join(folder, "label_encoder.txt"), "w") as f:
    ...         _ = f.write("".join(f"'{n}' => {i}\\n" for i, n in enumerate(names)))
    >>> check_same_speakers(a, a)
    2
    >>> check_same_speakers(a, b)
    Traceback (most recent call last):
    ...
    custom_modules.training.init_from.InitError: init_head: ... first difference: line 1, 'x' => 0 against 'y' => 0; ...
    """
    source, run = (os.path.join(f, "label_encoder.txt") for f in (source_folder, run_folder))
    for path in (source, run):
        if not os.path.isfile(path):
            raise InitError(
                f"init_head: {path} not found: a kept head needs the speakers of the run that trained it "
                f"(--init_from must be a recipes/train.py output folder)"
            )
    theirs, ours = _speaker_lines(source), _speaker_lines(run)
    if theirs != ours:
        first = next((i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b), min(len(theirs), len(ours)))
        shown = [lines[first] if first < len(lines) else "nothing" for lines in (theirs, ours)]
        raise InitError(
            f"init_head: the head of {source} ({len(theirs)} speakers) answers to other classes than this run "
            f"({run}, {len(ours)} speakers); first difference: line {first + 1}, {shown[0]} against {shown[1]}; "
            f"train on the source run's speakers, or train a new head (init_head: False)"
        )
    return len(ours)


def load_encoder_state(module: torch.nn.Module, path: str, what: str = "encoder", hint: str = ENCODER_HINT) -> int:
    """Load the state dict at ``path`` into ``module`` exactly; returns the number of tensors.

    ``what`` names the module in errors (``"encoder"``, ``"AM-Softmax head"``) and ``hint``
    says what to do.

    Raises
    ------
    InitError
        Naming the file and the missing keys, the unexpected keys and the keys whose shapes
        differ (with both shapes): the pretrained encoder must have this recipe's
        architecture (encoder, m_channels or channels, n_features, embedding_dim).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "embedding_model.ckpt")
    >>> torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    >>> load_encoder_state(torch.nn.Linear(3, 2), path)
    2
    >>> load_encoder_state(torch.nn.Linear(4, 2), path)
    Traceback (most recent call last):
    ...
    custom_modules.training.init_from.InitError: ... shapes differ: weight (2, 3) in the file, (2, 4) in the recipe; ...
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same one line
        raise InitError(f"{path}: cannot be read as a state dict ({error})") from None
    if not isinstance(state, dict):
        raise InitError(f"{path}: holds a {type(state).__name__}, not a state dict")
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k} {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the recipe"
        for k in sorted(set(own) & set(state))
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} keys missing from the file (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} keys the recipe's {what} does not have (e.g. {', '.join(unexpected[:3])})")
        if mismatched:
            parts.append(f"shapes differ: {'; '.join(mismatched[:3])}")
        raise InitError(f"{path} does not fit this recipe's {what}: " + "; ".join(parts) + "; " + hint)
    module.load_state_dict(state)
    return len(state)
