"""Speaker-verification metrics: DET curve, equal error rate and minimum detection cost.

Pure NumPy (no torch), exact, and O(N log N) in time and O(N) in memory for N trials:
all scores are sorted once and every error rate comes from cumulative counts.

Conventions
-----------
Decision rule
    A trial is *accepted* (declared "same speaker") when ``score >= threshold``.
    Hence, at threshold ``t``::

        p_miss(t) = #{target scores < t}     / #targets
        p_fa(t)   = #{non-target scores >= t} / #non-targets

Operating points
    Only the distinct score values are candidate thresholds, so tied scores are always
    accepted or rejected together (a tie never splits into a fraction of a trial). The
    lowest score is the "accept everything" point (``p_miss = 0``, ``p_fa = 1``) and the
    extra threshold ``+inf`` is the "accept nothing" point (``p_miss = 1``, ``p_fa = 0``).
    Along increasing thresholds ``p_miss`` never decreases and ``p_fa`` never increases.

Equal error rate (EER)
    As in Kaldi's ``compute-eer`` and WeSpeaker's scoring, the EER is where the
    miss and false-alarm curves cross. Let ``i`` be the first operating point (in
    increasing threshold order) where ``p_miss >= p_fa``. If the two rates are equal
    there, that value is the EER. Otherwise the crossing is taken on the straight
    segment of the DET plot between operating points ``i - 1`` and ``i``: with
    ``d = p_miss - p_fa`` (negative at ``i - 1``, positive at ``i``), the weight
    ``a = d[i-1] / (d[i-1] - d[i])`` gives ``eer = (1 - a) * p_miss[i-1] + a * p_miss[i]``
    (which equals the same combination of ``p_fa``). Perfectly separated scores give
    exactly 0, fully inverted scores exactly 1 and all-equal scores exactly 0.5.
    The returned threshold is *not* interpolated: it is the threshold of operating
    point ``i``, the smallest threshold at which the miss rate is at least the
    false-alarm rate (Kaldi/WeSpeaker practice); if that point is the "accept nothing"
    point ``+inf``, the highest score is returned instead, so it is always finite.

Minimum detection cost (minDCF)
    The detection cost function of the NIST Speaker Recognition Evaluations,
    ``C_det = c_miss * p_target * p_miss + c_fa * (1 - p_target) * p_fa``, minimised over
    all operating points above and normalised by the cost of the best trivial system
    (accept everything or reject everything), ``min(c_miss * p_target, c_fa * (1 - p_target))``.
    So a perfect system scores 0 and one no better than a constant decision scores 1.

Example
-------
>>> target = [0.9, 0.8, 0.4]
>>> nontarget = [0.5, 0.1, 0.0, -0.2]
>>> equal_error_rate(target, nontarget)
EERResult(eer=0.25, threshold=0.5)
>>> round(min_detection_cost(target, nontarget, p_target=0.05).min_dcf, 4)
0.3333

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "percent_text",
    "EERResult",
    "DCFResult",
    "det_curve",
    "equal_error_rate",
    "min_detection_cost",
    "verification_metrics",
    "validate_scores",
    "check_costs",
    "DEFAULT_P_TARGETS",
]

ArrayLike = Union[Sequence[float], np.ndarray]


class EERResult(NamedTuple):
    """Equal error rate and the score threshold at the crossing.

    Attributes
    ----------
    eer : float
        Equal error rate as a fraction in [0, 1] (not a percentage).
    threshold : float
        Threshold of the first operating point where ``p_miss >= p_fa`` (accept if
        ``score >= threshold``); the highest score if that point is ``+inf``.
    """

    eer: float
    threshold: float


class DCFResult(NamedTuple):
    """Normalised minimum detection cost and the settings it was computed with.

    Attributes
    ----------
    min_dcf : float
        Minimum of the normalised detection cost over all operating points.
    threshold : float
        Threshold reaching that minimum (accept if ``score >= threshold``); ``+inf``
        when rejecting every trial is optimal. The lowest such threshold on ties.
    p_target : float
        Prior probability of a target trial.
    c_miss : float
        Cost of a miss.
    c_fa : float
        Cost of a false alarm.
    """

    min_dcf: float
    threshold: float
    p_target: float
    c_miss: float
    c_fa: float


def validate_scores(scores: ArrayLike, name: str) -> np.ndarray:
    """Validates one list of scores and returns it as a 1-D float64 array (shared by the
    calibration and bootstrap modules, so every metric refuses bad input the same way)."""
    arr = np.asarray(scores)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or Inf) out of {arr.size}")
    return arr


def _check_inputs(target_scores: ArrayLike, nontarget_scores: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Validates both score lists (finite, 1-D, non-empty)."""
    tgt = validate_scores(target_scores, "target_scores")
    non = validate_scores(nontarget_scores, "nontarget_scores")
    need = "error rates need at least one target and one non-target score"
    if tgt.size == 0:
        raise ValueError(f"no target trials: {need}")
    if non.size == 0:
        raise ValueError(f"no non-target trials: {need}")
    return tgt, non


DEFAULT_P_TARGETS = (0.01, 0.05)
"""The minDCF priors every report uses unless told otherwise (hparams/eval.yaml ``p_targets``)."""


def check_costs(p_target: float, c_miss: float, c_fa: float) -> Tuple[float, float, float]:
    """Validated detection-cost settings ``(p_target, c_miss, c_fa)``: the one check of them
    (metrics, calibration and the bootstrap all use it).

    Example
    -------
    >>> check_costs(0.01, 1, 1)
    (0.01, 1.0, 1.0)
    >>> check_costs(1.0, 1, 1)
    Traceback (most recent call last):
    ...
    ValueError: p_target must lie strictly between 0 and 1, got 1.0
    """
    p_target, c_miss, c_fa = float(p_target), float(c_miss), float(c_fa)
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must lie strictly between 0 and 1, got {p_target}")
    if not (c_miss > 0.0 and np.isfinite(c_miss)):
        raise ValueError(f"c_miss must be a positive finite cost, got {c_miss}")
    if not (c_fa > 0.0 and np.isfinite(c_fa)):
        raise ValueError(f"c_fa must be a positive finite cost, got {c_fa}")
    return p_target, c_miss, c_fa


def _det_curve(tgt: np.ndarray, non: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DET curve of validated inputs (see ``det_curve``)."""
    n_tgt, n_non = tgt.size, non.size
    scores = np.concatenate([tgt, non])
    order = np.argsort(scores)  # the only sort
    sorted_scores = scores[order]
    # Number of target scores among the first k sorted scores, for k = 0..N.
    tgt_below = np.zeros(scores.size + 1, dtype=np.int64)
    np.cumsum(order < n_tgt, out=tgt_below[1:])
    # Start of each run of equal scores, plus N for the +inf threshold.
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_scores)) + 1])
    idx = np.append(starts, scores.size)
    miss = tgt_below[idx]  # targets strictly below the threshold
    fa = n_non - (idx - miss)  # non-targets at or above the threshold
    thresholds = np.append(sorted_scores[starts], np.inf)
    return miss / n_tgt, fa / n_non, thresholds


def det_curve(target_scores: ArrayLike, nontarget_scores: ArrayLike) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miss and false-alarm rates at every distinct threshold (accept if ``score >= t``).

    One sort of all scores, then cumulative counts: O(N log N) time, O(N) memory.

    Arguments
    ---------
    target_scores : array-like
        1-D scores of target (same-speaker) trials.
    nontarget_scores : array-like
        1-D scores of non-target (different-speaker) trials.

    Returns
    -------
    p_miss : numpy.ndarray
        Miss rate at each threshold, non-decreasing, from 0 to 1.
    p_fa : numpy.ndarray
        False-alarm rate at each threshold, non-increasing, from 1 to 0.
    thresholds : numpy.ndarray
        The distinct scores in increasing order followed by ``+inf`` ("accept nothing").

    Raises
    ------
    ValueError
        If a list is empty, not 1-D, or holds NaN/Inf.

    Example
    -------
    >>> p_miss, p_fa, thr = det_curve([1, 1], [1, 0])
    >>> p_miss.tolist(), p_fa.tolist(), thr.tolist()
    ([0.0, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, inf])
    """
    tgt, non = _check_inputs(target_scores, nontarget_scores)
    return _det_curve(tgt, non)


def _eer_from_curve(p_miss: np.ndarray, p_fa: np.ndarray, thresholds: np.ndarray) -> EERResult:
    """EER from a DET curve whose first point is (0, 1) and last is (1, 0)."""
    diff = p_miss - p_fa  # non-decreasing, from -1 to +1
    i = int(np.argmax(diff >= 0))  # first point with p_miss >= p_fa; i >= 1
    if diff[i] == 0:
        eer = float(p_miss[i])
    else:
        a = diff[i - 1] / (diff[i - 1] - diff[i])  # in (0, 1)
        eer = float((1.0 - a) * p_miss[i - 1] + a * p_miss[i])
    threshold = thresholds[i] if np.isfinite(thresholds[i]) else thresholds[i - 1]
    return EERResult(eer=eer, threshold=float(threshold))


def _min_dcf_from_curve(
    p_miss: np.ndarray,
    p_fa: np.ndarray,
    thresholds: np.ndarray,
    p_target: float,
    c_miss: float,
    c_fa: float,
) -> DCFResult:
    """Normalised minDCF from a DET curve; settings already validated."""
    w_miss, w_fa = c_miss * p_target, c_fa * (1.0 - p_target)
    cost = w_miss * p_miss + w_fa * p_fa
    k = int(np.argmin(cost))
    return DCFResult(
        min_dcf=float(cost[k] / min(w_miss, w_fa)),
        threshold=float(thresholds[k]),
        p_target=p_target,
        c_miss=c_miss,
        c_fa=c_fa,
    )


def equal_error_rate(target_scores: ArrayLike, nontarget_scores: ArrayLike) -> EERResult:
    """Equal error rate, linearly interpolated at the crossing of the DET curve.

    See the module docstring for the exact interpolation (Kaldi ``compute-eer`` /
    WeSpeaker practice) and for which threshold is returned.

    Arguments
    ---------
    target_scores : array-like
        1-D scores of target trials (higher means more likely the same speaker).
    nontarget_scores : array-like
        1-D scores of non-target trials.

    Returns
    -------
    EERResult
        ``eer`` as a fraction in [0, 1] and ``threshold`` (accept if ``score >= threshold``).

    Raises
    ------
    ValueError
        If either list is empty, not 1-D, or holds NaN/Inf.

    Example
    -------
    >>> equal_error_rate([2, 3], [0, 1]).eer
    0.0
    >>> equal_error_rate([0, 1], [2, 3]).eer
    1.0
    >>> equal_error_rate([5, 5], [5, 5]).eer
    0.5
    >>> equal_error_rate([2.0, 3.0], [0.0, 1.0]).threshold
    2.0
    """
    return _eer_from_curve(*det_curve(target_scores, nontarget_scores))


def min_detection_cost(
    target_scores: ArrayLike,
    nontarget_scores: ArrayLike,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> DCFResult:
    """Normalised minimum detection cost (NIST SRE DCF), over all thresholds.

    ``min_t (c_miss * p_target * p_miss(t) + c_fa * (1 - p_target) * p_fa(t))``
    divided by ``min(c_miss * p_target, c_fa * (1 - p_target))``.

    Arguments
    ---------
    target_scores : array-like
        1-D scores of target trials.
    nontarget_scores : array-like
        1-D scores of non-target trials.
    p_target : float
        Prior probability of a target trial, strictly between 0 and 1.
    c_miss : float
        Cost of a miss (positive).
    c_fa : float
        Cost of a false alarm (positive).

    Returns
    -------
    DCFResult
        ``(min_dcf, threshold, p_target, c_miss, c_fa)``.

    Raises
    ------
    ValueError
        If a list is empty, not 1-D, holds NaN/Inf, or the settings are out of range.

    Example
    -------
    >>> min_detection_cost([2, 3], [0, 1]).min_dcf
    0.0
    >>> min_detection_cost([0, 1], [2, 3], p_target=0.05).min_dcf
    1.0
    >>> r = min_detection_cost([3, 1], [2, 0], p_target=0.5)
    >>> r.min_dcf, r.threshold
    (0.5, 1.0)
    """
    p_target, c_miss, c_fa = check_costs(p_target, c_miss, c_fa)
    curve = det_curve(target_scores, nontarget_scores)
    return _min_dcf_from_curve(*curve, p_target, c_miss, c_fa)


def verification_metrics(
    target_scores: ArrayLike,
    nontarget_scores: ArrayLike,
    p_targets: Sequence[float] = DEFAULT_P_TARGETS,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> Dict[str, object]:
    """EER and minDCF at several priors from one sort, as a JSON-serialisable dict.

    Arguments
    ---------
    target_scores : array-like
        1-D scores of target trials.
    nontarget_scores : array-like
        1-D scores of non-target trials.
    p_targets : sequence of float
        Target priors at which to report the minDCF.
    c_miss : float
        Cost of a miss, for every prior.
    c_fa : float
        Cost of a false alarm, for every prior.

    Returns
    -------
    dict
        ``eer`` (fraction), ``eer_threshold``, ``min_dcf`` (a list with one dict per prior:
        ``p_target``, ``c_miss``, ``c_fa``, ``min_dcf``, ``threshold``; the threshold is
        ``None`` when rejecting everything is optimal), ``n_target`` and ``n_nontarget``.
        All values are plain Python floats, ints, lists, dicts or None.

    Example
    -------
    >>> m = verification_metrics([2, 3], [0, 1], p_targets=(0.01,))
    >>> m["eer"], m["n_target"], m["min_dcf"][0]["min_dcf"], m["min_dcf"][0]["p_target"]
    (0.0, 2, 0.0, 0.01)
    """
    settings = [check_costs(p, c_miss, c_fa) for p in p_targets]
    tgt, non = _check_inputs(target_scores, nontarget_scores)
    curve = _det_curve(tgt, non)
    eer = _eer_from_curve(*curve)
    dcfs = []
    for p, cm, cf in settings:
        r = _min_dcf_from_curve(*curve, p, cm, cf)
        dcfs.append(
            {
                "p_target": r.p_target,
                "c_miss": r.c_miss,
                "c_fa": r.c_fa,
                "min_dcf": r.min_dcf,
                "threshold": r.threshold if np.isfinite(r.threshold) else None,
            }
        )
    return {
        "eer": eer.eer,
        "eer_threshold": eer.threshold,
        "min_dcf": dcfs,
        "n_target": int(tgt.size),
        "n_nontarget": int(non.size),
    }


def percent_text(value: Optional[float]) -> str:
    """A rate (an EER, a fraction) as report text: ``0.1234 -> '12.34%'``, None -> ``'-'``.

    Example
    -------
    >>> percent_text(0.1234), percent_text(None)
    ('12.34%', '-')
    """
    return "-" if value is None else f"{100 * value:.2f}%"
