"""Cohort score normalisation of cosine scores (z, t, s and as-norm).

Pure NumPy (no torch); the scores are those of :mod:`custom_modules.scoring.cosine`.

Score normalisation
    Each utterance ``u`` gets cohort statistics ``mu_u`` and ``sd_u``: the mean and the
    *population* standard deviation (``ddof=0``, as ``np.std`` in WeSpeaker) of its cosine
    scores against every cohort embedding, or, for adaptive s-norm, against only its
    ``top_k`` highest-scoring cohort embeddings (Matejka et al., "Analysis of score
    normalization in multilingual speaker recognition", Interspeech 2017; ``asnorm`` in
    WeSpeaker's ``score_norm.py``). The statistics are computed once per utterance, so the
    cost is O((enrol + test utterances) x cohort) for the cohort scores plus O(trials) for
    the normalisation, never O(trials x cohort). For a trial with raw score ``s``:

    - z-norm (enrol side): ``z = (s - mu_e) / sd_e``
    - t-norm (test side): ``t = (s - mu_t) / sd_t``
    - s-norm: ``(z + t) / 2`` with full-cohort statistics
    - as-norm: ``(z + t) / 2`` with top-k statistics

    This is the symmetric convention of WeSpeaker's ``score_norm.py``: the enrol and the test
    utterance are each scored against the same cohort, with no "impostor model" asymmetry.
    A zero standard deviation (a one-element cohort, or identical cohort scores) is replaced
    by ``eps`` so that no score becomes NaN or infinite.

Example
-------
>>> import numpy as np
>>> from custom_modules.scoring.cosine import cosine_trial_scores
>>> emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
>>> index = {"a": 0, "b": 1, "c": 2}
>>> trials = [Trial(1, "a", "b"), Trial(0, "a", "c")]
>>> cosine_trial_scores(trials, emb, index).round(6).tolist()
[0.6, 0.0]
>>> cohort = np.array([[1.0, 1.0], [-1.0, 0.0]])
>>> mean, std = cohort_statistics(emb, cohort)
>>> normalise_scores([0.6, 0.0], trials, index, mean, std, "s").round(4).tolist()
[0.692, -0.4142]

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
from typing import List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from custom_modules.scoring.cosine import _as_matrix, _l2_normalise, _trial_rows
from custom_modules.scoring.trials import Trial

__all__ = ["NORM_METHODS", "cohort_statistics", "normalise_scores", "speaker_mean_cohort"]

ArrayLike = Union[Sequence[float], np.ndarray]

#: Valid ``method`` values of :func:`normalise_scores`.
NORM_METHODS = ("none", "z", "t", "s", "as")


def cohort_statistics(
    embeddings: np.ndarray,
    cohort: np.ndarray,
    top_k: Optional[int] = None,
    chunk_size: int = 1024,
) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation of each utterance's cosine scores to a cohort.

    The cosine score matrix is computed ``chunk_size`` rows at a time, so memory stays
    O(chunk x M) for a cohort of M embeddings. With ``top_k``, only the ``top_k`` highest
    cohort scores of each utterance are used (adaptive s-norm, Matejka et al. 2017; the
    ``top_n`` of WeSpeaker's as-norm). The standard deviation is the population one
    (``ddof=0``), as ``np.std`` in WeSpeaker.

    Arguments
    ---------
    embeddings : numpy.ndarray
        ``(N, D)`` embeddings of the utterances to normalise (enrol and test sides).
    cohort : numpy.ndarray
        ``(M, D)`` cohort embeddings (e.g. :func:`speaker_mean_cohort` of the training set, or
        training utterance embeddings directly); need not be normalised.
    top_k : int or None
        Number of highest cohort scores to keep, 1..M; None keeps all M (plain s-norm).
    chunk_size : int
        Rows of ``embeddings`` scored per step.

    Returns
    -------
    mean : numpy.ndarray
        ``(N,)`` float64 mean cohort score of each utterance.
    std : numpy.ndarray
        ``(N,)`` float64 population standard deviation of the same scores.

    Raises
    ------
    ValueError
        If ``top_k`` is outside 1..M, the dimensions differ, or a row is zero or non-finite.

    Example
    -------
    >>> emb = np.array([[1.0, 0.0]])
    >>> cohort = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> mean, std = cohort_statistics(emb, cohort)
    >>> mean.tolist(), std.round(4).tolist()
    ([0.0], [0.8165])
    >>> mean, std = cohort_statistics(emb, cohort, top_k=2)
    >>> mean.tolist(), std.tolist()
    ([0.5], [0.5])
    """
    emb = _l2_normalise(_as_matrix(embeddings, "embeddings"), "embeddings")
    coh = _l2_normalise(_as_matrix(cohort, "cohort"), "cohort")
    if emb.shape[1] != coh.shape[1]:
        raise ValueError(
            f"embeddings have dimension {emb.shape[1]} but the cohort has {coh.shape[1]}: "
            f"both must come from the same model"
        )
    m = coh.shape[0]
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= m:
            raise ValueError(f"top_k must be an integer from 1 to the cohort size M={m}, got {top_k!r}")
        top_k = int(top_k)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    n = emb.shape[0]
    mean = np.empty(n, dtype=np.float64)
    std = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk_size):
        scores = emb[start : start + chunk_size] @ coh.T
        if top_k is not None and top_k < m:
            scores = np.partition(scores, m - top_k, axis=1)[:, m - top_k :]
        mu = scores.mean(axis=1)
        mean[start : start + chunk_size] = mu
        std[start : start + chunk_size] = np.sqrt(np.mean((scores - mu[:, None]) ** 2, axis=1))
    return mean, std


def normalise_scores(
    scores: ArrayLike,
    trials: Sequence[Trial],
    index: Mapping[str, int],
    mean: np.ndarray,
    std: np.ndarray,
    method: str,
    eps: float = 1e-10,
) -> np.ndarray:
    """Normalise raw trial scores with per-utterance cohort statistics.

    With ``e`` and ``t`` the enrol and test rows of a trial (found through ``index``):
    ``"z"``: ``(s - mean[e]) / std[e]``; ``"t"``: ``(s - mean[t]) / std[t]``;
    ``"s"`` and ``"as"``: the average of the two (symmetric, as WeSpeaker's
    ``score_norm.py``); ``"none"``: a float64 copy of ``scores``. ``"s"`` and ``"as"`` compute
    the same formula: pass full-cohort statistics (``cohort_statistics(..., top_k=None)``)
    for s-norm and top-k statistics for as-norm. O(trials) work: the cohort scores are
    already summarised in ``mean`` and ``std``.

    Arguments
    ---------
    scores : array-like
        ``(T,)`` raw scores, in trial order.
    trials : sequence of Trial
        The trials (only the IDs are used).
    index : mapping of str to int
        Row of ``mean``/``std`` for each utterance ID (the same index as the embeddings).
    mean, std : numpy.ndarray
        ``(N,)`` statistics from :func:`cohort_statistics`.
    method : str
        One of ``NORM_METHODS``: ``"none"``, ``"z"``, ``"t"``, ``"s"``, ``"as"``.
    eps : float
        Standard deviations below ``eps`` (e.g. 0 for a one-embedding cohort) are replaced
        by ``eps``.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` float64 normalised scores.

    Raises
    ------
    ValueError
        For an unknown method (the valid ones are listed), length or shape mismatches, or
        unknown IDs.

    Example
    -------
    >>> trials = [Trial(1, "a", "b")]
    >>> mean, std = np.array([0.1, 0.3]), np.array([0.2, 0.1])
    >>> [float(normalise_scores([0.5], trials, {"a": 0, "b": 1}, mean, std, m)[0].round(6))
    ...  for m in ("none", "z", "t", "s")]
    [0.5, 2.0, 2.0, 2.0]
    """
    if method not in NORM_METHODS:
        raise ValueError(f"unknown score normalisation {method!r}; valid methods are {list(NORM_METHODS)}")
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or values.shape[0] != len(trials):
        raise ValueError(f"scores must be 1-D with one score per trial ({len(trials)}), got shape {values.shape}")
    if method == "none":
        return values.copy()
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.ndim != 1 or mean.shape != std.shape:
        raise ValueError(f"mean and std must be 1-D of equal length, got shapes {mean.shape} and {std.shape}")
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a positive finite number, got {eps}")
    enrol, test = _trial_rows(trials, index, mean.shape[0])
    safe_std = np.maximum(std, eps)
    z = (values - mean[enrol]) / safe_std[enrol] if method in ("z", "s", "as") else None
    t = (values - mean[test]) / safe_std[test] if method in ("t", "s", "as") else None
    if method == "z":
        return z
    if method == "t":
        return t
    return 0.5 * (z + t)


def speaker_mean_cohort(embeddings: np.ndarray, speaker_ids: Sequence[str]) -> Tuple[np.ndarray, List[str]]:
    """One L2-normalised mean embedding per speaker, the cohort WeSpeaker's recipes build.

    The raw embeddings of each speaker are averaged (as WeSpeaker's ``vector_mean.py``) and the
    mean is L2-normalised. To use utterance embeddings as the cohort instead, pass them to
    :func:`cohort_statistics` directly.

    Arguments
    ---------
    embeddings : numpy.ndarray
        ``(N, D)`` embeddings of the cohort utterances (e.g. the training set).
    speaker_ids : sequence of str
        ``N`` speaker labels, one per row.

    Returns
    -------
    cohort : numpy.ndarray
        ``(S, D)`` float64 unit-norm speaker means, in the order of ``speakers``.
    speakers : list of str
        The S distinct speakers, sorted.

    Example
    -------
    >>> emb = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, -5.0]])
    >>> cohort, speakers = speaker_mean_cohort(emb, ["a", "a", "b"])
    >>> cohort.round(4).tolist(), speakers
    ([[0.7071, 0.7071], [0.0, -1.0]], ['a', 'b'])
    """
    emb = _as_matrix(embeddings, "embeddings")
    labels = [str(s) for s in speaker_ids]
    if len(labels) != emb.shape[0]:
        raise ValueError(f"{len(labels)} speaker IDs for {emb.shape[0]} embedding rows: give one per row")
    speakers, inverse = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    sums = np.zeros((len(speakers), emb.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse.ravel(), emb)
    means = sums / np.bincount(inverse.ravel(), minlength=len(speakers))[:, None]
    zero = np.flatnonzero(np.linalg.norm(means, axis=1) == 0)
    if zero.size:
        raise ValueError(f"the mean embedding of speaker {speakers[zero[0]]!r} is zero: it cannot be normalised")
    return _l2_normalise(means, "speaker means"), [str(s) for s in speakers]
