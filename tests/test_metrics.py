"""Tests of custom_modules.scoring.metrics against independent, loop-based references.

The references below recompute every operating point by brute force (accept if
``score >= t`` for each distinct score and ``+inf``) and interpolate the EER with
their own loop, so they share no code with the implementation.
"""

import doctest
import json
import math

import numpy as np
import pytest

import custom_modules.scoring.metrics as metrics
from custom_modules.scoring.metrics import (
    DCFResult,
    EERResult,
    det_curve,
    equal_error_rate,
    min_detection_cost,
    verification_metrics,
)


# --------------------------------------------------------------------------- references
def brute_force_curve(tgt, non):
    """(thresholds, p_miss, p_fa) over every distinct score plus +inf, one by one."""
    tgt = np.asarray(tgt, dtype=np.float64)
    non = np.asarray(non, dtype=np.float64)
    thresholds = sorted(set(tgt.tolist()) | set(non.tolist())) + [math.inf]
    p_miss, p_fa = [], []
    for t in thresholds:
        p_miss.append(float((tgt < t).mean()))
        p_fa.append(float((non >= t).mean()))
    return np.array(thresholds), np.array(p_miss), np.array(p_fa)


def brute_force_min_dcf(tgt, non, p_target, c_miss=1.0, c_fa=1.0):
    """Minimum normalised DCF and the set of thresholds reaching it."""
    thresholds, p_miss, p_fa = brute_force_curve(tgt, non)
    norm = min(c_miss * p_target, c_fa * (1 - p_target))
    best, where = math.inf, []
    for t, pm, pf in zip(thresholds, p_miss, p_fa):
        cost = (c_miss * p_target * pm + c_fa * (1 - p_target) * pf) / norm
        if cost < best - 1e-12:
            best, where = cost, [t]
        elif abs(cost - best) <= 1e-12:
            where.append(t)
    return best, where


def reference_eer(tgt, non):
    """EER by walking the DET points and intersecting the segment with p_miss == p_fa.

    Returns (eer, bracket_low, bracket_high, index of first point with p_miss >= p_fa,
    thresholds).
    """
    thresholds, p_miss, p_fa = brute_force_curve(tgt, non)
    for k in range(len(thresholds)):
        if p_miss[k] >= p_fa[k]:
            break
    else:  # pragma: no cover - the +inf point always has p_miss = 1 >= p_fa = 0
        raise AssertionError("no crossing")
    if p_miss[k] == p_fa[k]:
        eer = p_miss[k]
        lo = hi = eer
    else:
        # Segment P(t) = P0 + t (P1 - P0) in the (p_fa, p_miss) plane; solve pm(t) = pf(t).
        pm0, pf0, pm1, pf1 = p_miss[k - 1], p_fa[k - 1], p_miss[k], p_fa[k]
        t = (pf0 - pm0) / ((pm1 - pm0) - (pf1 - pf0))
        eer = pm0 + t * (pm1 - pm0)
        vals = [pm0, pf0, pm1, pf1]
        lo, hi = min(vals), max(vals)
    return eer, lo, hi, k, thresholds


def random_sets():
    """Random score sets with deliberate ties (rounded scores), various sizes."""
    out = []
    rng = np.random.default_rng(1234)
    for n_tgt, n_non, decimals, shift in [
        (30, 70, 1, 1.0),
        (200, 500, 2, 1.5),
        (57, 13, 0, 0.5),
        (5, 400, 1, 2.0),
        (400, 6, 1, 0.3),
        (1, 1, 1, 1.0),
        (1, 50, 1, 1.0),
        (333, 333, 2, 0.0),
    ]:
        tgt = np.round(rng.normal(shift, 1.0, n_tgt), decimals)
        non = np.round(rng.normal(0.0, 1.0, n_non), decimals)
        out.append((tgt, non))
    return out


RANDOM_SETS = random_sets()


# --------------------------------------------------------------------------- DET curve
@pytest.mark.parametrize("case", range(len(RANDOM_SETS)))
def test_det_curve_equals_brute_force(case):
    tgt, non = RANDOM_SETS[case]
    p_miss, p_fa, thresholds = det_curve(tgt, non)
    ref_thr, ref_miss, ref_fa = brute_force_curve(tgt, non)
    np.testing.assert_array_equal(thresholds, ref_thr)
    np.testing.assert_allclose(p_miss, ref_miss, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p_fa, ref_fa, rtol=0, atol=1e-12)
    # end points: accept everything, accept nothing
    assert (p_miss[0], p_fa[0]) == (0.0, 1.0)
    assert (p_miss[-1], p_fa[-1], thresholds[-1]) == (1.0, 0.0, math.inf)
    assert np.all(np.diff(p_miss) >= 0) and np.all(np.diff(p_fa) <= 0)


def test_det_curve_matches_sklearn_roc_curve():
    sk = pytest.importorskip("sklearn.metrics")
    for tgt, non in RANDOM_SETS:
        scores = np.concatenate([tgt, non])
        labels = np.r_[np.ones(len(tgt)), np.zeros(len(non))]
        fpr, tpr, _ = sk.roc_curve(labels, scores, drop_intermediate=False)
        p_miss, p_fa, _ = det_curve(tgt, non)
        ours = np.unique(np.round(np.c_[p_fa, p_miss], 12), axis=0)
        theirs = np.unique(np.round(np.c_[fpr, 1 - tpr], 12), axis=0)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- minDCF
@pytest.mark.parametrize("case", range(len(RANDOM_SETS)))
@pytest.mark.parametrize(
    "p_target,c_miss,c_fa",
    [
        (0.01, 1.0, 1.0),
        (0.05, 1.0, 1.0),
        (0.001, 1.0, 1.0),
        (0.5, 1.0, 1.0),
        (0.9, 1.0, 1.0),
        (0.01, 10.0, 1.0),
        (0.05, 1.0, 3.0),
    ],
)
def test_min_dcf_equals_brute_force(case, p_target, c_miss, c_fa):
    tgt, non = RANDOM_SETS[case]
    result = min_detection_cost(tgt, non, p_target=p_target, c_miss=c_miss, c_fa=c_fa)
    best, where = brute_force_min_dcf(tgt, non, p_target, c_miss, c_fa)
    assert isinstance(result, DCFResult)
    assert result.min_dcf == pytest.approx(best, abs=1e-9)
    assert result.threshold in where
    assert (result.p_target, result.c_miss, result.c_fa) == (p_target, c_miss, c_fa)
    assert 0.0 <= result.min_dcf <= 1.0 + 1e-12  # a trivial system always costs 1


# --------------------------------------------------------------------------- EER
@pytest.mark.parametrize("case", range(len(RANDOM_SETS)))
def test_eer_equals_reference_interpolation(case):
    tgt, non = RANDOM_SETS[case]
    result = equal_error_rate(tgt, non)
    eer, lo, hi, k, thresholds = reference_eer(tgt, non)
    assert isinstance(result, EERResult)
    assert lo - 1e-12 <= result.eer <= hi + 1e-12
    assert result.eer == pytest.approx(eer, abs=1e-9)
    # threshold: the first operating point with p_miss >= p_fa (highest score if +inf)
    expected_thr = thresholds[k] if np.isfinite(thresholds[k]) else thresholds[k - 1]
    assert result.threshold == expected_thr


def test_eer_on_continuous_scores_is_near_theory():
    # two unit Gaussians 2 apart: EER = Phi(-1) = 0.1587
    rng = np.random.default_rng(0)
    tgt, non = rng.normal(2.0, 1.0, 50_000), rng.normal(0.0, 1.0, 50_000)
    assert equal_error_rate(tgt, non).eer == pytest.approx(0.158655, abs=0.006)
    assert equal_error_rate(tgt, non).threshold == pytest.approx(1.0, abs=0.05)


def test_invariant_to_order_and_monotone_transform():
    tgt, non = RANDOM_SETS[1]
    rng = np.random.default_rng(5)
    base_eer = equal_error_rate(tgt, non)
    base_dcf = min_detection_cost(tgt, non, p_target=0.05)
    shuffled = equal_error_rate(rng.permutation(tgt), rng.permutation(non))
    assert shuffled == base_eer
    warped = equal_error_rate(np.exp(tgt), np.exp(non))
    assert warped.eer == pytest.approx(base_eer.eer, abs=1e-12)
    assert warped.threshold == pytest.approx(np.exp(base_eer.threshold))
    assert min_detection_cost(np.exp(tgt), np.exp(non), p_target=0.05).min_dcf == pytest.approx(
        base_dcf.min_dcf, abs=1e-12
    )


# --------------------------------------------------------------------------- edge cases
def test_perfect_separation_gives_zero():
    tgt, non = [2.0, 3.0, 4.0, 5.0], [-1.0, 0.0, 1.0]
    r = equal_error_rate(tgt, non)
    assert r.eer == 0.0
    assert r.threshold == 2.0  # lowest target score: no miss, no false alarm
    for p in (0.001, 0.01, 0.05, 0.5, 0.99):
        assert min_detection_cost(tgt, non, p_target=p).min_dcf == 0.0
    # touching but not overlapping: target at 1, non-target just below
    assert equal_error_rate([1.0], [0.999]).eer == 0.0


def test_fully_inverted_gives_one():
    tgt, non = [-1.0, 0.0, 1.0], [2.0, 3.0, 4.0, 5.0]
    assert equal_error_rate(tgt, non).eer == 1.0
    for p in (0.001, 0.01, 0.05, 0.5, 0.99):
        assert min_detection_cost(tgt, non, p_target=p).min_dcf == 1.0
    assert min_detection_cost(tgt, non, p_target=0.01).threshold == math.inf


def test_all_scores_equal_gives_half():
    assert equal_error_rate([0.3] * 4, [0.3] * 7).eer == 0.5
    assert equal_error_rate([0.3] * 4, [0.3] * 7).threshold == 0.3
    # a constant system is no better than a trivial one
    for p in (0.01, 0.5, 0.9):
        assert min_detection_cost([0.3] * 4, [0.3] * 7, p_target=p).min_dcf == 1.0


def test_tied_scores_move_together():
    # thresholds 0, 1, +inf -> (p_miss, p_fa) = (0, 1), (0, 1/2), (1, 0).
    # Crossing on the segment (0, 1/2) -> (1, 0): p_miss = s, p_fa = (1 - s) / 2 -> s = 1/3.
    r = equal_error_rate([1, 1], [1, 0])
    assert r.eer == pytest.approx(1 / 3, abs=1e-15)
    assert r.threshold == 1.0
    # p_target 0.5: costs 0.5, 0.25, 0.5 -> normalised 0.5 at threshold 1
    d = min_detection_cost([1, 1], [1, 0], p_target=0.5)
    assert (d.min_dcf, d.threshold) == (0.5, 1.0)
    # p_target 0.01: rejecting everything (cost 0.01 -> 1) beats threshold 1 (0.495 -> 49.5)
    d = min_detection_cost([1, 1], [1, 0], p_target=0.01)
    assert (d.min_dcf, d.threshold) == (1.0, math.inf)
    # target [1, 2], non-target [1, 0]: points (0,1), (0,1/2), (1/2,0), (1,0) -> EER 1/4
    assert equal_error_rate([1, 2], [1, 0]).eer == pytest.approx(0.25, abs=1e-15)
    # splitting the tie (targets above non-targets) would have given EER 0
    assert equal_error_rate([1.0, 2.0], [0.999, 0.0]).eer == 0.0


def test_input_dtypes_and_containers():
    tgt, non = RANDOM_SETS[0]
    ref = equal_error_rate(tgt, non)
    for dtype in (np.float32, np.float16):
        t, n = tgt.astype(dtype), non.astype(dtype)
        expected = reference_eer(t.astype(np.float64), n.astype(np.float64))[0]
        assert equal_error_rate(t, n).eer == pytest.approx(expected, abs=1e-9)
    assert equal_error_rate(list(tgt), tuple(non)) == ref
    assert equal_error_rate([2, 3], [0, 1]).eer == 0.0  # integers
    assert isinstance(ref.eer, float) and isinstance(ref.threshold, float)


def test_empty_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="no target trials"):
        equal_error_rate([], [0.1, 0.2])
    with pytest.raises(ValueError, match="no non-target trials"):
        equal_error_rate([0.1], [])
    with pytest.raises(ValueError, match="at least one target and one non-target"):
        min_detection_cost(np.array([]), [0.1])
    with pytest.raises(ValueError, match="no non-target trials"):
        det_curve([0.5], np.zeros(0, dtype=np.float32))
    with pytest.raises(ValueError, match="no target trials"):
        verification_metrics([], [1.0])


def test_non_finite_scores_raise_with_count():
    with pytest.raises(ValueError, match=r"target_scores contains 2 non-finite"):
        equal_error_rate([0.1, np.nan, 0.3, np.nan], [0.0])
    with pytest.raises(ValueError, match=r"nontarget_scores contains 1 non-finite"):
        min_detection_cost([0.1], [0.0, np.inf])
    with pytest.raises(ValueError, match=r"contains 1 non-finite"):
        det_curve([-np.inf], [0.0])


@pytest.mark.parametrize("p_target", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_p_target_out_of_range_raises(p_target):
    with pytest.raises(ValueError, match="p_target"):
        min_detection_cost([1.0], [0.0], p_target=p_target)
    with pytest.raises(ValueError, match="p_target"):
        verification_metrics([1.0], [0.0], p_targets=(0.01, p_target))


def test_bad_costs_and_shapes_raise():
    with pytest.raises(ValueError, match="c_miss"):
        min_detection_cost([1.0], [0.0], c_miss=0.0)
    with pytest.raises(ValueError, match="c_fa"):
        min_detection_cost([1.0], [0.0], c_fa=-1.0)
    with pytest.raises(ValueError, match="1-D"):
        equal_error_rate(np.ones((2, 2)), [0.0])
    with pytest.raises(ValueError, match="real numbers"):
        equal_error_rate(["a", "b"], [0.0])


# --------------------------------------------------------------------------- summary dict
def test_verification_metrics_consistent_and_json_serialisable():
    tgt, non = RANDOM_SETS[1]
    m = verification_metrics(tgt, non, p_targets=(0.01, 0.05))
    json.dumps(m, allow_nan=False)  # plain floats/ints only, no NaN/inf
    eer = equal_error_rate(tgt, non)
    assert (m["eer"], m["eer_threshold"]) == (eer.eer, eer.threshold)
    assert (m["n_target"], m["n_nontarget"]) == (len(tgt), len(non))
    assert type(m["n_target"]) is int and type(m["eer"]) is float
    assert [d["p_target"] for d in m["min_dcf"]] == [0.01, 0.05]
    for d in m["min_dcf"]:
        ref = min_detection_cost(tgt, non, p_target=d["p_target"])
        assert d["min_dcf"] == ref.min_dcf
        assert (d["c_miss"], d["c_fa"]) == (1.0, 1.0)
        assert d["threshold"] == ref.threshold
        assert type(d["min_dcf"]) is float


def test_verification_metrics_reject_all_threshold_is_none():
    m = verification_metrics([0.0, 1.0], [2.0, 3.0], p_targets=(0.01,))
    json.dumps(m, allow_nan=False)
    assert m["eer"] == 1.0
    assert m["min_dcf"][0]["min_dcf"] == 1.0 and m["min_dcf"][0]["threshold"] is None


# --------------------------------------------------------------------------- misc
def test_module_does_not_import_torch():
    # Load metrics.py on its own (not through the package, whose __init__ may import
    # torch-based modules) in a fresh interpreter and check torch stays out.
    import subprocess
    import sys

    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('m', {metrics.__file__!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "assert mod.equal_error_rate([2, 3], [0, 1]).eer == 0.0\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_doctests_pass():
    result = doctest.testmod(metrics, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_scale_200k_scores():
    rng = np.random.default_rng(42)
    tgt = rng.normal(1.0, 1.0, 100_000).astype(np.float32)
    non = rng.normal(0.0, 1.0, 100_000).astype(np.float32)
    m = verification_metrics(tgt, non)
    # d' = 1: EER = Phi(-0.5) = 0.3085
    assert m["eer"] == pytest.approx(0.3085, abs=0.01)
    assert 0.0 < m["min_dcf"][0]["min_dcf"] <= 1.0
    # the interpolated EER agrees with the rates at its crossing to within one trial
    p_miss, p_fa, thr = det_curve(tgt, non)
    i = int(np.flatnonzero(p_miss >= p_fa)[0])
    assert min(p_miss[i - 1], p_fa[i]) - 1e-12 <= m["eer"] <= max(p_miss[i], p_fa[i - 1]) + 1e-12
