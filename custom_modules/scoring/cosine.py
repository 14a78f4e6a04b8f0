"""Cosine scoring of trials on extracted embeddings.

``score = <e, t> / (|e| |t|)`` in float64: the embedding rows are L2-normalised once and
each trial is a row-wise dot product of the gathered enrol and test rows. Pure NumPy (no
torch): the embeddings are an ``(N, D)`` array whose rows are looked up by utterance ID
through a ``dict`` index (:func:`custom_modules.scoring.trials.build_index`).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Mapping, Sequence, Tuple

import numpy as np

from custom_modules.scoring.trials import Trial, check_trial_ids

__all__ = ["cosine_trial_scores"]


# --------------------------------------------------------------------------- helpers
def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    """A validated finite 2-D float64 array."""
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (rows x dim), got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise ValueError(f"{name} has non-finite values (NaN or Inf) in {bad.size} row(s), first row {bad[0]}")
    return arr


def _l2_normalise(x: np.ndarray, name: str) -> np.ndarray:
    """Rows divided by their L2 norm (a new float64 array); zero rows raise."""
    norms = np.linalg.norm(x, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"{name} has {zero.size} all-zero row(s), first row {zero[0]}: cosine scores are undefined")
    return x / norms[:, None]


def _trial_rows(trials: Sequence[Trial], index: Mapping[str, int], n_rows: int) -> Tuple[np.ndarray, np.ndarray]:
    """Rows of the enrol and test sides of every trial, checked against the index."""
    check_trial_ids(trials, index, source="the embedding index")
    enrol = np.fromiter((index[t.enrol] for t in trials), dtype=np.int64, count=len(trials))
    test = np.fromiter((index[t.test] for t in trials), dtype=np.int64, count=len(trials))
    for side in (enrol, test):
        if side.size and (side.min() < 0 or side.max() >= n_rows):
            raise ValueError(
                f"the embedding index points at row {int(side.max()) if side.max() >= n_rows else int(side.min())}, "
                f"outside the {n_rows} embedding rows"
            )
    return enrol, test


# --------------------------------------------------------------------------- scoring
def cosine_trial_scores(
    trials: Sequence[Trial],
    embeddings: np.ndarray,
    index: Mapping[str, int],
    chunk_size: int = 65536,
) -> np.ndarray:
    """Cosine score of every trial, vectorised.

    The embedding rows are L2-normalised once; each trial's score is the dot product of its
    gathered enrol and test rows, ``chunk_size`` trials at a time (memory O(chunk x D)).

    Arguments
    ---------
    trials : sequence of Trial
        The trials to score.
    embeddings : numpy.ndarray
        ``(N, D)`` embeddings, any real dtype, finite and with no all-zero row.
    index : mapping of str to int
        Row of ``embeddings`` for each utterance ID.
    chunk_size : int
        Trials gathered per step.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` float64 scores in trial order.

    Raises
    ------
    ValueError
        For unknown IDs (first 5 and the count), rows outside ``embeddings``, or bad embeddings.

    Example
    -------
    >>> emb = np.array([[3.0, 4.0], [4.0, 3.0]])
    >>> cosine_trial_scores([Trial(1, "a", "b"), Trial(1, "a", "a")], emb, {"a": 0, "b": 1}).tolist()
    [0.96, 1.0]
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    unit = _l2_normalise(_as_matrix(embeddings, "embeddings"), "embeddings")
    enrol, test = _trial_rows(trials, index, unit.shape[0])
    scores = np.empty(len(trials), dtype=np.float64)
    for start in range(0, len(trials), chunk_size):
        stop = start + chunk_size
        scores[start:stop] = np.einsum("ij,ij->i", unit[enrol[start:stop]], unit[test[start:stop]])
    return scores
