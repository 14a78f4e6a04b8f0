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

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

import torch

__all__ = ["InitError", "pretrained_files", "load_encoder_state"]


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


def load_encoder_state(module: torch.nn.Module, path: str) -> int:
    """Load the state dict at ``path`` into ``module`` exactly; returns the number of tensors.

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
            parts.append(
                f"{len(unexpected)} keys the recipe's encoder does not have (e.g. {', '.join(unexpected[:3])})"
            )
        if mismatched:
            parts.append(f"shapes differ: {'; '.join(mismatched[:3])}")
        raise InitError(
            f"{path} does not fit this recipe's encoder: "
            + "; ".join(parts)
            + "; the pretrained model must have the same architecture (encoder, m_channels or channels, "
            "n_features, embedding_dim): use its hparams, or another --init_from"
        )
    module.load_state_dict(state)
    return len(state)
