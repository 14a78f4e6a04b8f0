"""Validation by EER on held-out speakers: the model-selection signal for small data.

Closed-set accuracy on the training speakers reaches 100% long before the embeddings
generalise (16 training speakers are memorised, not learned from), so it cannot pick
the epoch to keep. ``recipes/train.py`` with ``valid_speakers: N`` sets N whole speakers
apart (:func:`custom_modules.data.dataio.hold_out_speakers`), embeds their utterances after
every epoch and scores **all pairs** of them with the cosine: the EER of those trials
drives checkpoint selection (``checkpoint: auto`` in ``hparams/eval.yaml``) and early
stopping (SpeechBrain's ``EpochCounterWithStopper``).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn as nn

from custom_modules.scoring.metrics import equal_error_rate

__all__ = ["PairwiseEER", "pairwise_eer", "embed_heldout"]


class PairwiseEER(NamedTuple):
    """EER (fraction) over all pairs of held-out utterances, with the trial counts."""

    eer: float
    target_trials: int
    nontarget_trials: int


def pairwise_eer(embeddings: np.ndarray, speakers: Sequence[str]) -> PairwiseEER:
    """Cosine-score every pair ``i < j`` of utterances and return the EER of those trials.

    Arguments
    ---------
    embeddings : np.ndarray
        (N, D) embeddings, one per utterance.
    speakers : sequence of str
        The N speaker labels; at least 2 speakers and one speaker with 2 utterances.

    Example
    -------
    >>> emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> pairwise_eer(emb, ["a", "a", "b", "b"])
    PairwiseEER(eer=0.0, target_trials=2, nontarget_trials=4)
    """
    embeddings = np.asarray(embeddings, dtype=np.float64).reshape(len(speakers), -1)
    labels = np.asarray(list(speakers))
    if len(set(labels.tolist())) < 2:
        raise ValueError(f"pairwise EER needs at least 2 held-out speakers, got {sorted(set(labels.tolist()))}")
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    scores = unit @ unit.T
    upper = np.triu_indices(len(labels), k=1)
    same = (labels[:, None] == labels[None, :])[upper]
    pair_scores = scores[upper]
    if not same.any():
        raise ValueError("pairwise EER needs a held-out speaker with 2 or more utterances")
    result = equal_error_rate(pair_scores[same], pair_scores[~same])
    return PairwiseEER(float(result.eer), int(same.sum()), int((~same).sum()))


@torch.no_grad()
def embed_heldout(extractor: nn.Module, loader, device: str = "cpu") -> tuple:
    """Embed every batch of a held-out loader (items ``sig`` and ``spk_id``) in eval mode.

    Returns ``(embeddings (N, D) float32, speaker labels)``; the extractor's training mode
    is restored afterwards.
    """
    was_training = extractor.training
    extractor.eval()
    embeddings, speakers = [], []
    try:
        for batch in loader:
            wavs, lens = batch.sig
            emb = extractor(wavs.to(device), lens.to(device))
            embeddings.append(emb.reshape(wavs.shape[0], -1).float().cpu().numpy())
            speakers.extend(batch.spk_id)
    finally:
        extractor.train(was_training)
    return np.concatenate(embeddings), speakers
