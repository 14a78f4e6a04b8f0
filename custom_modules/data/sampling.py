"""Training on several corpora at once: every corpus gets the same share of each epoch.

A joint training set (e.g. 16 speakers of one corpus and 14 of another, or a small in-domain
set beside a big out-of-domain one) tags each utterance with its ``corpus`` (a column of the
training CSV; ``recipes/crossval.py --extra_train`` writes it). With ``balance_corpora: True``
in the hparams, ``recipes/train.py`` draws each epoch's utterances with replacement, every
corpus with the same total probability and the utterances of a corpus with equal
probability (SpeechBrain's ``ReproducibleWeightedRandomSampler``: the same seed and epoch
give the same draws). Without it, every utterance is seen once per epoch, so the bigger
corpus dominates the gradient.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from collections import Counter
from typing import Dict, List, Sequence

import torch

__all__ = ["corpus_balanced_weights", "balanced_corpus_sampler", "corpus_of_rows"]


def corpus_balanced_weights(corpora: Sequence[str]) -> torch.Tensor:
    """Per-utterance sampling weights: each corpus sums to ``1 / number of corpora``.

    Example
    -------
    >>> w = corpus_balanced_weights(["a", "a", "a", "b"])
    >>> w.tolist(), float(w[:3].sum()), float(w[3:].sum())
    ([0.1666666716337204, 0.1666666716337204, 0.1666666716337204, 0.5], 0.5, 0.5)
    """
    counts = Counter(corpora)
    if not counts:
        raise ValueError("no utterances to weigh")
    return torch.tensor([1.0 / (len(counts) * counts[c]) for c in corpora], dtype=torch.float64).float()


def corpus_of_rows(rows: Sequence[Dict[str, str]], ids: Sequence[str], path: str) -> List[str]:
    """The ``corpus`` of every training utterance, in dataset order (``ids``).

    Raises
    ------
    ValueError
        Naming ``path`` when the CSV has no ``corpus`` column or a row leaves it empty.

    Example
    -------
    >>> rows = [{"ID": "x", "corpus": "dev"}, {"ID": "y", "corpus": "dsp20"}]
    >>> corpus_of_rows(rows, ["y", "x"], "train.csv")
    ['dsp20', 'dev']
    """
    by_id = {row["ID"]: (row.get("corpus") or "").strip() for row in rows}
    empty = [i for i in ids if not by_id.get(i)]
    if empty:
        raise ValueError(
            f"{path}: balance_corpora needs a 'corpus' column naming each utterance's corpus "
            f"({len(empty)} rows without one, e.g. {empty[0]!r}); recipes/crossval.py --extra_train writes "
            f"it, or add it to your CSV, or set balance_corpora: False"
        )
    return [by_id[i] for i in ids]


def balanced_corpus_sampler(corpora: Sequence[str], seed: int):
    """A reproducible sampler drawing ``len(corpora)`` utterances per epoch, with replacement,
    every corpus equally often in expectation.

    Example
    -------
    >>> sampler = balanced_corpus_sampler(["a"] * 90 + ["b"] * 10, seed=0)
    >>> draws = list(sampler)
    >>> len(draws), 30 < sum(i >= 90 for i in draws) < 70
    (100, True)
    """
    from speechbrain.dataio.sampler import ReproducibleWeightedRandomSampler

    weights = corpus_balanced_weights(corpora)
    return ReproducibleWeightedRandomSampler(weights, num_samples=len(weights), replacement=True, seed=int(seed))
