"""Weighted EER and minDCF: every trial counts ``weight`` times.

The weighted metrics of the speaker-level bootstrap (:mod:`custom_modules.scoring.bootstrap`):
the operating points and conventions of ``custom_modules.scoring.metrics`` (accept if
``score >= t``, tied scores move together, EER interpolated at the crossing of the miss and
false-alarm rates, minDCF normalised by the best trivial system) with rates
``p_miss = (target weight below t) / (target weight)`` and
``p_fa = (non-target weight at or above t) / (non-target weight)``. With integer weights
they equal the unweighted metrics of the list in which each trial is repeated ``weight``
times, bit for bit; with unit weights they equal ``metrics.equal_error_rate`` and
``metrics.min_detection_cost`` exactly. Pure NumPy.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import numpy as np

from custom_modules.scoring.metrics import check_costs, validate_scores

__all__ = ["weighted_equal_error_rate", "weighted_min_detection_cost"]

ArrayLike = Union[Sequence[float], np.ndarray]


# --------------------------------------------------------------------------- validation
def _as_labels(labels: ArrayLike, n: int) -> np.ndarray:
    """Boolean target mask from 0/1 or bool labels, with both classes present."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"labels must be 1-D with one label per score ({n}), got shape {arr.shape}")
    if arr.dtype == bool:
        is_target = arr
    else:
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"labels must be 0/1 or booleans, got dtype {arr.dtype}")
        bad = ~((arr == 0) | (arr == 1))
        if bad.any():
            raise ValueError(f"labels must be 0 (non-target) or 1 (target), got {arr[bad][0]!r}")
        is_target = arr == 1
    n_tgt = int(np.count_nonzero(is_target))
    if n_tgt == 0 or n_tgt == n:
        raise ValueError(f"{n_tgt} target and {n - n_tgt} non-target trials: error rates need at least one of each")
    return is_target


def _check_costs(p_targets: Sequence[float], c_miss: float, c_fa: float) -> List[Tuple[float, float, float]]:
    """Validated ``(p_target, c_miss, c_fa)`` settings, one per prior."""
    if isinstance(p_targets, (int, float)):
        p_targets = (p_targets,)
    check_costs(0.5, c_miss, c_fa)  # the costs first, whatever the priors
    return [check_costs(p, c_miss, c_fa) for p in p_targets]


# --------------------------------------------------------------------------- weighted metrics
def _eer_from_points(pm_p, d_p, pm_i, d_i):
    """EER from the operating points around the crossing (metrics.py's interpolation)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = d_p / (d_p - d_i)
        return np.where(d_i == 0, pm_i, (1.0 - a) * pm_p + a * pm_i)


def _weighted_rates(scores: ArrayLike, labels: ArrayLike, weights: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Weighted miss and false-alarm rates at every distinct score and +inf (validated)."""
    s = validate_scores(scores, "scores")
    is_target = _as_labels(labels, s.size)
    w = validate_scores(weights, "weights")
    if w.size != s.size:
        raise ValueError(f"weights has {w.size} values for {s.size} scores: give one per trial")
    if w.size and w.min() < 0:
        raise ValueError(f"weights must be non-negative, got {float(w.min())}")
    order = np.argsort(s, kind="stable")
    ss, ws, ls = s[order], w[order], is_target[order]
    cum_t = np.zeros(s.size + 1)
    cum_n = np.zeros(s.size + 1)
    np.cumsum(np.where(ls, ws, 0.0), out=cum_t[1:])
    np.cumsum(np.where(ls, 0.0, ws), out=cum_n[1:])
    w_t, w_n = cum_t[-1], cum_n[-1]
    if not (w_t > 0 and w_n > 0):
        raise ValueError(f"target weight {w_t} and non-target weight {w_n}: both must be positive")
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ss)) + 1])
    idx = np.append(starts, s.size)
    return cum_t[idx] / w_t, (w_n - cum_n[idx]) / w_n


def weighted_equal_error_rate(scores: ArrayLike, labels: ArrayLike, weights: ArrayLike) -> float:
    """EER of weighted trials, with the conventions of ``custom_modules.scoring.metrics.equal_error_rate``.

    Arguments
    ---------
    scores : array-like
        1-D trial scores (accept if ``score >= threshold``).
    labels : array-like
        1-D labels, 1 (or True) for target trials, 0 for non-targets.
    weights : array-like
        1-D non-negative trial weights; the total target and non-target weights must be positive.

    Returns
    -------
    float
        The EER as a fraction. With unit weights it equals ``metrics.equal_error_rate(...).eer``
        exactly, and with integer weights the EER of the list where each trial is repeated
        ``weight`` times.

    Raises
    ------
    ValueError
        On shape mismatches, non-finite values, negative weights, labels other than 0/1, or a
        class with no (weight of) trials.

    Example
    -------
    >>> weighted_equal_error_rate([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], [1, 1, 1, 1])
    0.5
    >>> weighted_equal_error_rate([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], [1, 0, 1, 1])
    0.0
    """
    p_miss, p_fa = _weighted_rates(scores, labels, weights)
    diff = p_miss - p_fa
    i = int(np.argmax(diff >= 0))
    return float(_eer_from_points(p_miss[i - 1], diff[i - 1], p_miss[i], diff[i]))


def weighted_min_detection_cost(
    scores: ArrayLike,
    labels: ArrayLike,
    weights: ArrayLike,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> float:
    """Normalised minDCF of weighted trials (conventions of ``metrics.min_detection_cost``).

    Arguments
    ---------
    scores : array-like
        1-D trial scores.
    labels : array-like
        1-D labels, 1 (or True) for targets, 0 for non-targets.
    weights : array-like
        1-D non-negative trial weights.
    p_target : float
        Prior of a target, strictly between 0 and 1.
    c_miss : float
        Cost of a miss.
    c_fa : float
        Cost of a false alarm.

    Returns
    -------
    float
        ``min_t (c_miss p p_miss + c_fa (1 - p) p_fa) / min(c_miss p, c_fa (1 - p))``.

    Raises
    ------
    ValueError
        As :func:`weighted_equal_error_rate`, or for settings out of range.

    Example
    -------
    >>> weighted_min_detection_cost([3, 1, 2, 0], [1, 1, 0, 0], [1, 1, 1, 1], p_target=0.5)
    0.5
    >>> weighted_min_detection_cost([3, 1, 2, 0], [1, 1, 0, 0], [1, 0, 1, 1], p_target=0.5)
    0.0
    """
    ((p, cm, cf),) = _check_costs((p_target,), c_miss, c_fa)
    p_miss, p_fa = _weighted_rates(scores, labels, weights)
    w_miss, w_fa = cm * p, cf * (1.0 - p)
    return float(np.min(w_miss * p_miss + w_fa * p_fa) / min(w_miss, w_fa))
