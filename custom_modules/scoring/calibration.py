"""Score calibration for speaker verification: Cllr, min Cllr, linear calibration, actual DCF.

Pure NumPy/SciPy (no torch), following the BOSARIS toolkit (Brümmer and de Villiers, "The
BOSARIS toolkit: theory, algorithms and code for surviving the new DCF", 2011) and Brümmer
and du Preez, "Application-independent evaluation of speaker detection", Computer Speech and
Language 20, 2006.

Conventions
-----------
Log-likelihood ratios
    Every LLR here is a *natural* logarithm, ``llr = ln p(score | target) / p(score | non-target)``.
    A system is calibrated when its scores can be read as such LLRs.

Cllr (bits)
    ``Cllr = 1 / (2 ln 2) * (mean_t ln(1 + exp(-llr_t)) + mean_n ln(1 + exp(llr_n)))``, the
    prior-0.5 cross-entropy of the LLRs as posteriors. 0 is perfect, 1 is the cost of a system
    that always says ``llr = 0``, and above 1 the LLRs are harmful. ``ln(1 + exp(x))`` is
    computed as ``np.logaddexp(0, x)``, exact for large ``|x|``.

min Cllr
    The Cllr after the best monotone (order-preserving) transform of the scores: the
    pool-adjacent-violators (PAV) algorithm fits target posteriors that are non-decreasing in
    the score; equal scores are pooled first, so tied scores always get the same LLR. As in
    BOSARIS's ``opt_loglr``, the empirical prior log-odds are removed to get LLRs:
    ``llr = logit(posterior) - ln(N_target / N_nontarget)``. ``Cllr - min Cllr`` is the
    calibration loss, ``min Cllr`` the discrimination loss.

Linear calibration
    ``llr = a * score + b``, fitted by logistic regression that minimises the
    prior-weighted cross-entropy at ``p_target`` (BOSARIS ``train_linear_calibration``):
    ``p * mean_t softplus(-(a s_t + b + logit p)) + (1 - p) * mean_n softplus(a s_n + b + logit p)``,
    so targets and non-targets weigh ``p / N_target`` and ``(1 - p) / N_nontarget``
    whatever their counts. With ``a > 0`` the transform keeps the order of the scores, so
    the EER and minDCF do not change; only the Cllr and actual DCF do.

Actual DCF
    The normalised detection cost of the *Bayes decisions* made with the LLRs: accept when
    ``llr >= ln(c_fa (1 - p) / (c_miss p))``, then
    ``(c_miss p p_miss + c_fa (1 - p) p_fa) / min(c_miss p, c_fa (1 - p))``, the same
    normalisation as ``custom_modules.scoring.metrics.min_detection_cost``. It is never below the
    minDCF, and equals it (up to sampling) for well-calibrated LLRs.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> tgt, non = rng.normal(2, 1, 2000), rng.normal(-2, 1, 2000)
>>> cal = fit_linear_calibration(tgt, non, p_target=0.5)
>>> round(cal.a), round(cal.b)  # the true LLR of these Gaussians is 4 * score
(4, 0)
>>> cllr(tgt, non) > cllr(cal.apply(tgt), cal.apply(non)) >= min_cllr(tgt, non)
True

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
import warnings
from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
from scipy.optimize import isotonic_regression, minimize
from scipy.special import expit

from custom_modules.scoring.metrics import check_costs, validate_scores

__all__ = [
    "LinearCalibration",
    "cllr",
    "min_cllr",
    "pav",
    "pav_llrs",
    "fit_linear_calibration",
    "actual_dcf",
]

ArrayLike = Union[Sequence[float], np.ndarray]

_LN2 = math.log(2.0)
# Posteriors are clipped to [_EPS, 1 - _EPS] where LLRs must be finite (pav_llrs): a pure
# block of non-targets then gets about -34.5 nats (minus the prior log-odds), whose Cllr
# contribution (about _EPS * N_non / N_tar bits per trial) is negligible.
_EPS = 1e-15


# --------------------------------------------------------------------------- validation
def _as_pair(target: ArrayLike, nontarget: ArrayLike, what: str) -> Tuple[np.ndarray, np.ndarray]:
    """Validates a target and a non-target list (1-D, finite, non-empty)."""
    tgt = validate_scores(target, f"target_{what}")
    non = validate_scores(nontarget, f"nontarget_{what}")
    if tgt.size == 0:
        raise ValueError(f"target_{what} is empty: at least one target and one non-target are needed")
    if non.size == 0:
        raise ValueError(f"nontarget_{what} is empty: at least one target and one non-target are needed")
    return tgt, non


def _check_prior(p_target: float) -> float:
    """Validates a target prior strictly between 0 and 1."""
    p = float(p_target)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p_target must lie strictly between 0 and 1, got {p_target}")
    return p


def _check_costs(p_target: float, c_miss: float, c_fa: float) -> Tuple[float, float, float]:
    """Validates the detection-cost settings (the prior with this module's message, the costs
    with :func:`custom_modules.scoring.metrics.check_costs`)."""
    _, c_miss, c_fa = check_costs(0.5, c_miss, c_fa)
    return _check_prior(p_target), c_miss, c_fa


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


# --------------------------------------------------------------------------- Cllr
def cllr(target_llrs: ArrayLike, nontarget_llrs: ArrayLike) -> float:
    """Log-likelihood-ratio cost Cllr, in bits, of natural-log LLRs.

    ``0.5 / ln 2 * (mean(ln(1 + exp(-llr_t))) + mean(ln(1 + exp(llr_n))))``. Vectorised,
    O(N) time and memory, stable for any finite LLR (``np.logaddexp``).

    Arguments
    ---------
    target_llrs : array-like
        1-D natural-log LLRs of the target (same-speaker) trials.
    nontarget_llrs : array-like
        1-D natural-log LLRs of the non-target trials.

    Returns
    -------
    float
        Cllr in bits: 0 for perfect LLRs, 1 for the uninformative ``llr = 0``.

    Raises
    ------
    ValueError
        If a list is empty, not 1-D, or holds NaN/Inf.

    Example
    -------
    >>> cllr([0.0], [0.0])
    1.0
    >>> round(cllr([50.0], [-50.0]), 12)
    0.0
    >>> round(cllr([-2.0, 3.0], [1.0]), 4)
    1.732
    """
    tgt, non = _as_pair(target_llrs, nontarget_llrs, "llrs")
    c_tgt = float(np.mean(np.logaddexp(0.0, -tgt)))
    c_non = float(np.mean(np.logaddexp(0.0, non)))
    return (c_tgt + c_non) / (2.0 * _LN2)


# --------------------------------------------------------------------------- PAV
def pav(y: ArrayLike, weights: Optional[ArrayLike] = None) -> np.ndarray:
    """Pool-adjacent-violators: the non-decreasing sequence closest to ``y`` in weighted least squares.

    Minimises ``sum_i w_i (f_i - y_i)^2`` subject to ``f_1 <= f_2 <= ... <= f_n``. Each fitted
    value is the weighted mean of a block of consecutive inputs. Uses SciPy's O(n)
    implementation of PAVA (``scipy.optimize.isotonic_regression``).

    Arguments
    ---------
    y : array-like
        1-D finite values, in the order along which the fit must not decrease.
    weights : array-like or None
        1-D positive finite weights (same length), or None for unit weights.

    Returns
    -------
    numpy.ndarray
        The fitted float64 values, non-decreasing, same length as ``y``.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D finite, or the weights are not positive, finite and of the same length.

    Example
    -------
    >>> pav([1, 3, 2, 4]).tolist()
    [1.0, 2.5, 2.5, 4.0]
    >>> pav([0, 1, 0, 0, 1, 1]).tolist()
    [0.0, 0.3333333333333333, 0.3333333333333333, 0.3333333333333333, 1.0, 1.0]
    >>> pav([3, 1], weights=[1, 3]).tolist()
    [1.5, 1.5]
    """
    values = validate_scores(y, "y")
    if weights is None:
        w = None
    else:
        w = validate_scores(weights, "weights")
        if w.shape != values.shape:
            raise ValueError(f"weights has {w.size} values for {values.size} in y: give one weight per value")
        if w.size and not np.all(w > 0):
            raise ValueError(f"weights must be positive, got a minimum of {float(w.min())}")
    if values.size == 0:
        return values.copy()
    return np.asarray(isotonic_regression(values, weights=w, increasing=True).x, dtype=np.float64)


def _pav_groups(tgt: np.ndarray, non: np.ndarray):
    """PAV target posteriors per group of equal scores.

    Returns ``(order, starts, n_group, t_group, posterior)``: the sort order of the
    concatenated scores ``[tgt, non]``, the first sorted position of each run of equal
    scores, the trial and target count of each run, and the PAV posterior of each run.
    """
    scores = np.concatenate([tgt, non])
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    is_tgt = (order < tgt.size).astype(np.float64)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_scores)) + 1])
    n_group = np.diff(np.append(starts, scores.size)).astype(np.float64)
    t_group = np.add.reduceat(is_tgt, starts)
    posterior = np.clip(pav(t_group / n_group, weights=n_group), 0.0, 1.0)
    return order, starts, n_group, t_group, posterior


def pav_llrs(target_scores: ArrayLike, nontarget_scores: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Optimally calibrated LLRs of the trials: PAV posteriors minus the empirical prior log-odds.

    The scores are sorted once, equal scores are pooled, and PAV fits target posteriors that
    never decrease with the score; ``llr = logit(posterior) - ln(N_target / N_nontarget)``
    (BOSARIS ``opt_loglr``). Posteriors are clipped to ``[1e-15, 1 - 1e-15]`` so every LLR is
    finite (blocks of only non-targets or only targets would otherwise get -inf or +inf).

    Arguments
    ---------
    target_scores : array-like
        1-D scores of target trials (any monotone scale).
    nontarget_scores : array-like
        1-D scores of non-target trials.

    Returns
    -------
    target_llrs : numpy.ndarray
        Natural-log LLRs of the target trials, in input order.
    nontarget_llrs : numpy.ndarray
        Natural-log LLRs of the non-target trials, in input order.

    Raises
    ------
    ValueError
        If a list is empty, not 1-D, or holds NaN/Inf.

    Example
    -------
    >>> t, n = pav_llrs([1.0, 3.0], [0.0, 2.0])
    >>> t.round(1).tolist(), n.round(1).tolist()
    ([0.0, 34.5], [-34.5, 0.0])
    """
    tgt, non = _as_pair(target_scores, nontarget_scores, "scores")
    order, starts, n_group, _, posterior = _pav_groups(tgt, non)
    p = np.clip(posterior, _EPS, 1.0 - _EPS)
    llr_group = np.log(p) - np.log1p(-p) - math.log(tgt.size / non.size)
    llr = np.empty(tgt.size + non.size, dtype=np.float64)
    llr[order] = np.repeat(llr_group, n_group.astype(np.int64))
    return llr[: tgt.size], llr[tgt.size :]


def min_cllr(target_scores: ArrayLike, nontarget_scores: ArrayLike) -> float:
    """Cllr after the optimal monotone calibration of the scores (PAV), in bits.

    Computed per run of equal scores from PAV's posteriors (see :func:`pav_llrs`), exactly:
    a run whose posterior is 0 holds only non-targets (LLR -inf) and one whose posterior is
    1 only targets (LLR +inf), and both contribute exactly 0, so nothing is clipped here.
    Invariant to any strictly increasing transform of the scores. O(N log N) (one sort).

    Arguments
    ---------
    target_scores : array-like
        1-D scores of target trials.
    nontarget_scores : array-like
        1-D scores of non-target trials.

    Returns
    -------
    float
        min Cllr in bits, in [0, 1]: 0 for separable scores, 1 when the scores carry no
        information (e.g. all equal).

    Raises
    ------
    ValueError
        If a list is empty, not 1-D, or holds NaN/Inf.

    Example
    -------
    >>> min_cllr([2.0, 3.0], [0.0, 1.0])
    0.0
    >>> round(min_cllr([5.0, 5.0], [5.0]), 12)
    1.0
    >>> round(min_cllr([1.0, 3.0], [0.0, 2.0]), 4)
    0.5
    """
    tgt, non = _as_pair(target_scores, nontarget_scores, "scores")
    _, _, n_group, t_group, p = _pav_groups(tgt, non)
    u_group = n_group - t_group  # non-targets per run
    prior = math.log(tgt.size / non.size)
    # Targets sit only in runs with p > 0, non-targets only in runs with p < 1.
    has_t = (t_group > 0) & (p < 1.0)
    has_u = (u_group > 0) & (p > 0.0)
    llr_t = np.log(p[has_t]) - np.log1p(-p[has_t]) - prior
    llr_u = np.log(p[has_u]) - np.log1p(-p[has_u]) - prior
    c_tgt = float(np.sum(t_group[has_t] * np.logaddexp(0.0, -llr_t))) / tgt.size
    c_non = float(np.sum(u_group[has_u] * np.logaddexp(0.0, llr_u))) / non.size
    return (c_tgt + c_non) / (2.0 * _LN2)


# --------------------------------------------------------------------------- linear calibration
class LinearCalibration(NamedTuple):
    """An affine map from scores to natural-log LLRs, ``llr = a * score + b``.

    Attributes
    ----------
    a : float
        Scale (positive when higher scores mean "same speaker").
    b : float
        Offset.
    p_target : float
        Target prior the map was fitted at (kept for the record; :meth:`apply` does not use it).

    Example
    -------
    >>> cal = LinearCalibration(a=2.0, b=-1.0, p_target=0.01)
    >>> cal.apply([0.0, 1.0]).tolist()
    [-1.0, 1.0]
    >>> LinearCalibration.from_dict(cal.to_dict()) == cal
    True
    """

    a: float
    b: float
    p_target: float = 0.01

    def apply(self, scores: ArrayLike) -> np.ndarray:
        """LLRs ``a * scores + b`` (float64), same shape as ``scores`` (finite values required)."""
        arr = np.asarray(scores)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"scores must hold real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64, copy=False)
        if not np.all(np.isfinite(arr)):
            raise ValueError("scores contain NaN or Inf")
        return self.a * arr + self.b

    def to_dict(self) -> Dict[str, object]:
        """JSON-serialisable ``{"kind": "linear", "a": ..., "b": ..., "p_target": ...}``."""
        return {"kind": "linear", "a": float(self.a), "b": float(self.b), "p_target": float(self.p_target)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> "LinearCalibration":
        """Rebuild from :meth:`to_dict`'s output; raises ``ValueError`` on missing or bad fields."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a linear calibration must be a mapping, got {type(data).__name__}")
        kind = data.get("kind", "linear")
        if kind != "linear":
            raise ValueError(f"not a linear calibration: kind is {kind!r}")
        missing = [k for k in ("a", "b", "p_target") if k not in data]
        if missing:
            raise ValueError(f"linear calibration is missing {missing}; it needs a, b and p_target")
        try:
            a, b, p = float(data["a"]), float(data["b"]), float(data["p_target"])
        except (TypeError, ValueError):
            raise ValueError(f"a, b and p_target must be numbers, got {dict(data)!r}") from None
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"a and b must be finite, got a={a}, b={b}")
        return cls(a=a, b=b, p_target=_check_prior(p))


def fit_linear_calibration(
    target_scores: ArrayLike,
    nontarget_scores: ArrayLike,
    p_target: float = 0.01,
) -> LinearCalibration:
    """Fit ``llr = a * score + b`` by prior-weighted logistic regression (BOSARIS / Brümmer).

    Minimises ``p * mean_t softplus(-(a s_t + b + logit p)) + (1 - p) * mean_n softplus(a s_n + b + logit p)``
    with ``p = p_target`` (each class weighs its prior whatever its trial count), by
    L-BFGS with the analytic gradient on standardised scores (zero mean, unit variance over
    all trials), then maps the solution back to the raw score scale. The objective is
    convex; it is divided by the prior's entropy so that it starts near 1.

    Arguments
    ---------
    target_scores : array-like
        1-D raw scores of target trials (e.g. cosine scores).
    nontarget_scores : array-like
        1-D raw scores of non-target trials.
    p_target : float
        Prior at which the cross-entropy is weighted, strictly between 0 and 1.

    Returns
    -------
    LinearCalibration
        ``(a, b, p_target)``. If every score is equal the scores carry no information and the
        optimum is ``a = 0, b = 0`` (LLR 0 for every trial).

    Raises
    ------
    ValueError
        If a list is empty, not 1-D, holds NaN/Inf, or ``p_target`` is outside (0, 1).

    Warns
    -----
    RuntimeWarning
        If the optimiser stops without converging (e.g. perfectly separated scores, for
        which the optimal scale is unbounded).

    Example
    -------
    >>> tgt, non = [0.6, 0.7, 0.4, 0.8], [0.1, 0.2, 0.5, 0.0]
    >>> cal = fit_linear_calibration(tgt, non, p_target=0.5)
    >>> cal.a > 0, cal.p_target
    (True, 0.5)
    """
    tgt, non = _as_pair(target_scores, nontarget_scores, "scores")
    p = _check_prior(p_target)
    both = np.concatenate([tgt, non])
    mu, sd = float(both.mean()), float(both.std())
    if not sd > 0.0:
        return LinearCalibration(a=0.0, b=0.0, p_target=p)
    z_t = (tgt - mu) / sd
    z_n = (non - mu) / sd
    offset = _logit(p)
    entropy = -(p * math.log(p) + (1.0 - p) * math.log1p(-p))
    w_t = p / (tgt.size * entropy)
    w_n = (1.0 - p) / (non.size * entropy)

    def objective(theta: np.ndarray) -> Tuple[float, np.ndarray]:
        alpha, beta = float(theta[0]), float(theta[1])
        u_t = alpha * z_t + beta + offset
        u_n = alpha * z_n + beta + offset
        f = w_t * float(np.sum(np.logaddexp(0.0, -u_t))) + w_n * float(np.sum(np.logaddexp(0.0, u_n)))
        g_t = -w_t * expit(-u_t)  # d f / d u_t
        g_n = w_n * expit(u_n)  # d f / d u_n
        grad = np.array(
            [
                float(np.dot(g_t, z_t) + np.dot(g_n, z_n)),
                float(np.sum(g_t) + np.sum(g_n)),
            ]
        )
        return f, grad

    result = minimize(
        objective,
        x0=np.zeros(2),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-15},
    )
    alpha, beta = float(result.x[0]), float(result.x[1])
    if not (math.isfinite(alpha) and math.isfinite(beta)):
        raise ValueError(f"linear calibration diverged (alpha={alpha}, beta={beta}): {result.message}")
    if not result.success:
        warnings.warn(
            f"linear calibration did not converge ({result.message}); if the scores separate the "
            f"targets perfectly the optimal scale is unbounded",
            RuntimeWarning,
            stacklevel=2,
        )
    a = alpha / sd
    b = beta - a * mu
    return LinearCalibration(a=float(a), b=float(b), p_target=p)


# --------------------------------------------------------------------------- actual DCF
def actual_dcf(
    target_llrs: ArrayLike,
    nontarget_llrs: ArrayLike,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> float:
    """Normalised detection cost of the Bayes decisions taken with natural-log LLRs.

    A trial is accepted when ``llr >= ln(c_fa * (1 - p) / (c_miss * p))``; the cost
    ``c_miss * p * p_miss + c_fa * (1 - p) * p_fa`` is divided by
    ``min(c_miss * p, c_fa * (1 - p))`` as ``custom_modules.scoring.metrics.min_detection_cost`` does,
    so it is never below the minDCF of the same LLRs.

    Arguments
    ---------
    target_llrs : array-like
        1-D natural-log LLRs of target trials.
    nontarget_llrs : array-like
        1-D natural-log LLRs of non-target trials.
    p_target : float
        Prior probability of a target, strictly between 0 and 1.
    c_miss : float
        Cost of a miss (positive).
    c_fa : float
        Cost of a false alarm (positive).

    Returns
    -------
    float
        The normalised actual DCF (0 is perfect; 1 is the best trivial system; it can exceed 1).

    Raises
    ------
    ValueError
        If a list is empty, not 1-D, holds NaN/Inf, or the settings are out of range.

    Example
    -------
    >>> actual_dcf([5.0, 5.0], [-5.0, -5.0], p_target=0.01)
    0.0
    >>> actual_dcf([0.0, 10.0], [-10.0, -1.0], p_target=0.5)
    0.0
    >>> actual_dcf([4.0, 5.0], [-5.0, -5.0], p_target=0.01)  # threshold ln(99) = 4.6: one miss
    0.5
    """
    tgt, non = _as_pair(target_llrs, nontarget_llrs, "llrs")
    p, c_miss, c_fa = _check_costs(p_target, c_miss, c_fa)
    threshold = math.log(c_fa) + math.log1p(-p) - math.log(c_miss) - math.log(p)
    p_miss = float(np.count_nonzero(tgt < threshold)) / tgt.size
    p_fa = float(np.count_nonzero(non >= threshold)) / non.size
    w_miss, w_fa = c_miss * p, c_fa * (1.0 - p)
    return (w_miss * p_miss + w_fa * p_fa) / min(w_miss, w_fa)
