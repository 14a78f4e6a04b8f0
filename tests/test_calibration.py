"""Tests of custom_modules.scoring.calibration against independent references.

- Cllr of exactly calibrated Gaussian LLRs against its expectation by numerical integration.
- PAV against a brute-force O(n^2) isotonic regression (the min-max formula of the fitted
  values, which shares no code with the pool-adjacent-violators algorithm).
- min Cllr against a loop-based PAV on grouped scores, and its invariances.
- Actual DCF against minDCF from custom_modules.scoring.metrics, and linear calibration's effect on
  Cllr (lower) and EER (unchanged).
"""

import json
import math

import numpy as np
import pytest

from custom_modules.scoring.calibration import (
    LinearCalibration,
    actual_dcf,
    cllr,
    fit_linear_calibration,
    min_cllr,
    pav,
    pav_llrs,
)
from custom_modules.scoring.metrics import equal_error_rate, min_detection_cost


# --------------------------------------------------------------------------- references
def brute_force_isotonic(y, w=None):
    """Weighted isotonic regression by the min-max formula, O(n^2) block means:
    f_i = max_{j <= i} min_{k >= i} mean_w(y[j..k])."""
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, dtype=np.float64)
    n = y.size
    cw = np.concatenate([[0.0], np.cumsum(w)])
    cwy = np.concatenate([[0.0], np.cumsum(w * y)])
    fitted = np.empty(n)
    for i in range(n):
        best = -math.inf
        for j in range(i + 1):
            worst = math.inf
            for k in range(i, n):
                worst = min(worst, (cwy[k + 1] - cwy[j]) / (cw[k + 1] - cw[j]))
            best = max(best, worst)
        fitted[i] = best
    return fitted


def reference_min_cllr(tgt, non):
    """min Cllr by a loop over distinct scores and an explicit stack-based PAV."""
    tgt, non = list(map(float, tgt)), list(map(float, non))
    values = sorted(set(tgt) | set(non))
    blocks = []  # [targets, trials]
    for v in values:
        blocks.append([tgt.count(v), tgt.count(v) + non.count(v)])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            t, n = blocks.pop()
            blocks[-1][0] += t
            blocks[-1][1] += n
    prior = math.log(len(tgt) / len(non))
    total_t = total_n = 0.0
    for t, n in blocks:
        u = n - t
        p = t / n
        if 0 < p < 1:
            llr = math.log(p / (1 - p)) - prior
            total_t += t * math.log1p(math.exp(-llr))
            total_n += u * math.log1p(math.exp(llr))
    return (total_t / len(tgt) + total_n / len(non)) / (2 * math.log(2))


def gaussian_scores(n_tgt, n_non, seed, mean=2.0, sd=1.0):
    rng = np.random.default_rng(seed)
    return rng.normal(mean, sd, n_tgt), rng.normal(0.0, sd, n_non)


# --------------------------------------------------------------------------- Cllr
def test_cllr_of_calibrated_gaussian_llrs_matches_numerical_expectation():
    # LLRs of N(mu, 2mu) vs N(-mu, 2mu) are exactly calibrated (natural log).
    mu, n = 2.0, 1_000_000
    rng = np.random.default_rng(7)
    tgt = rng.normal(mu, math.sqrt(2 * mu), n)
    non = rng.normal(-mu, math.sqrt(2 * mu), n)
    x = np.linspace(-40.0, 40.0, 400_001)
    pdf_t = np.exp(-((x - mu) ** 2) / (4 * mu)) / np.sqrt(4 * np.pi * mu)
    pdf_n = np.exp(-((x + mu) ** 2) / (4 * mu)) / np.sqrt(4 * np.pi * mu)
    expect_t = np.trapezoid(pdf_t * np.log1p(np.exp(-x)), x) / math.log(2)
    expect_n = np.trapezoid(pdf_n * np.log1p(np.exp(x)), x) / math.log(2)
    expected = 0.5 * (expect_t + expect_n)
    assert expect_t == pytest.approx(expect_n, rel=1e-9)  # symmetric by construction
    got = cllr(tgt, non)
    assert abs(got - expected) < 1e-2
    # a shift or a scale away from calibration costs bits; min Cllr does not move
    assert cllr(tgt + 3, non + 3) > got + 0.1
    assert cllr(3 * tgt, 3 * non) > got + 0.1
    m = min_cllr(tgt, non)
    assert m <= got
    assert got - m < 5e-3  # already calibrated: the PAV gain is only the finite-sample overfit


def test_cllr_known_values_and_errors():
    assert cllr([0.0], [0.0]) == 1.0
    assert cllr([0.0, 0.0], [0.0, 0.0, 0.0]) == 1.0
    # 1/(2 ln 2) * (ln(1 + e^-1) + ln(1 + e^-2))
    assert cllr([1.0], [-2.0]) == pytest.approx(
        (math.log1p(math.exp(-1)) + math.log1p(math.exp(-2))) / (2 * math.log(2))
    )
    # extreme LLRs: no overflow, right limits
    assert cllr([1000.0], [-1000.0]) == 0.0
    assert cllr([-1000.0], [-1000.0]) == pytest.approx(1000 / (2 * math.log(2)))
    with pytest.raises(ValueError, match="empty"):
        cllr([], [0.0])
    with pytest.raises(ValueError, match="non-finite"):
        cllr([np.nan], [0.0])
    with pytest.raises(ValueError, match="1-D"):
        cllr([[1.0]], [0.0])
    with pytest.raises(ValueError, match="real numbers"):
        cllr(["a"], [0.0])


# --------------------------------------------------------------------------- PAV
def test_pav_known_examples():
    assert pav([1, 3, 2, 4]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert pav([3, 2, 1]).tolist() == [2.0, 2.0, 2.0]
    assert pav([1, 2, 3]).tolist() == [1.0, 2.0, 3.0]
    assert pav([]).tolist() == []
    assert pav([5.0]).tolist() == [5.0]
    assert pav([4, 1], weights=[1, 3]).tolist() == [1.75, 1.75]


@pytest.mark.parametrize("seed", range(30))
def test_pav_matches_brute_force_isotonic_regression(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    y = rng.integers(0, 4, n).astype(float) if seed % 2 else rng.normal(size=n)  # ties too
    w = rng.uniform(0.1, 3.0, n) if seed % 3 == 0 else None
    got = pav(y, weights=w)
    assert np.all(np.diff(got) >= -1e-12)  # non-decreasing
    np.testing.assert_allclose(got, brute_force_isotonic(y, w), rtol=0, atol=1e-12)


def test_pav_errors():
    with pytest.raises(ValueError, match="one weight per value"):
        pav([1, 2], weights=[1])
    with pytest.raises(ValueError, match="positive"):
        pav([1, 2], weights=[1, 0])
    with pytest.raises(ValueError, match="non-finite"):
        pav([1, np.inf])


# --------------------------------------------------------------------------- min Cllr
@pytest.mark.parametrize("seed", range(12))
def test_min_cllr_matches_loop_reference(seed):
    rng = np.random.default_rng(100 + seed)
    n_t, n_n = int(rng.integers(1, 15)), int(rng.integers(1, 15))
    # integer scores give many ties between and within classes
    tgt = rng.integers(0, 6, n_t) + (1 if seed % 2 else 0)
    non = rng.integers(0, 6, n_n)
    assert min_cllr(tgt, non) == pytest.approx(reference_min_cllr(tgt, non), abs=1e-12)


def test_min_cllr_bounds_and_invariance():
    tgt, non = gaussian_scores(20_000, 30_000, seed=1)
    m = min_cllr(tgt, non)
    assert 0.0 < m < 1.0
    assert m <= cllr(tgt, non)
    assert m <= cllr(tgt * 0.3 - 4, non * 0.3 - 4)
    # strictly increasing transforms change nothing
    for f in (lambda s: s + 10.0, lambda s: 0.01 * s, lambda s: 7.0 * s - 3.0, np.exp, np.arctan):
        assert min_cllr(f(tgt), f(non)) == pytest.approx(m, abs=1e-12)
    # separable, uninformative
    assert min_cllr([1.0, 2.0], [-1.0, 0.0]) == 0.0
    assert min_cllr([1.0, 1.0, 1.0], [1.0]) == pytest.approx(1.0, abs=1e-12)
    # inverted scores: the best monotone map is the constant one
    assert min_cllr([0.0, 1.0], [2.0, 3.0]) == pytest.approx(1.0, abs=1e-12)


def test_pav_llrs_give_min_cllr():
    tgt, non = gaussian_scores(3000, 5000, seed=2)
    t_llr, n_llr = pav_llrs(tgt, non)
    assert np.all(np.isfinite(t_llr)) and np.all(np.isfinite(n_llr))
    assert cllr(t_llr, n_llr) == pytest.approx(min_cllr(tgt, non), abs=1e-9)
    # monotone in the score, and tied scores share one LLR
    scores = np.concatenate([tgt, non])
    llrs = np.concatenate([t_llr, n_llr])
    order = np.argsort(scores)
    assert np.all(np.diff(llrs[order]) >= 0)
    t2, n2 = pav_llrs([1.0, 1.0, 2.0], [1.0, 0.0])
    assert t2[0] == t2[1] == n2[0]


# --------------------------------------------------------------------------- actual DCF
def test_actual_dcf_is_at_least_min_dcf():
    tgt, non = gaussian_scores(5000, 50_000, seed=3)
    for shift, scale in ((0.0, 1.0), (-3.0, 1.0), (2.0, 0.5), (0.0, 4.0)):
        t, n = scale * tgt + shift, scale * non + shift
        for p in (0.01, 0.05):
            act = actual_dcf(t, n, p_target=p)
            mini = min_detection_cost(t, n, p_target=p).min_dcf
            assert act >= mini - 1e-12
    # LLRs of N(2,1) vs N(0,1) are 2 s - 2: calibrated, so actual ~ min
    llr_t, llr_n = 2 * tgt - 2, 2 * non - 2
    for p in (0.01, 0.05):
        act = actual_dcf(llr_t, llr_n, p_target=p)
        mini = min_detection_cost(llr_t, llr_n, p_target=p).min_dcf
        assert act - mini < 0.03


def test_actual_dcf_threshold_and_costs():
    # p = 0.01: threshold ln 99 = 4.595
    assert actual_dcf([4.59, 4.60], [4.59], p_target=0.01) == pytest.approx(0.5)
    assert actual_dcf([10.0], [4.60], p_target=0.01) == pytest.approx(99.0)  # one false alarm
    # c_miss = 10, c_fa = 1, p = 0.5: threshold ln(1/10) = -2.303, normalised by min(5, 0.5)
    assert actual_dcf([-2.0], [-2.0], p_target=0.5, c_miss=10, c_fa=1) == pytest.approx(1.0)
    assert actual_dcf([-2.4], [-2.4], p_target=0.5, c_miss=10, c_fa=1) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="p_target"):
        actual_dcf([1.0], [0.0], p_target=1.0)
    with pytest.raises(ValueError, match="c_miss"):
        actual_dcf([1.0], [0.0], c_miss=0)
    with pytest.raises(ValueError, match="c_fa"):
        actual_dcf([1.0], [0.0], c_fa=-1)


# --------------------------------------------------------------------------- linear calibration
def test_linear_calibration_lowers_cllr_and_keeps_eer():
    tgt, non = gaussian_scores(20_000, 20_000, seed=4)
    # badly calibrated raw scores: shifted and scaled
    raw_t, raw_n = 0.25 * tgt + 3.0, 0.25 * non + 3.0
    raw_eer = equal_error_rate(raw_t, raw_n).eer
    for p in (0.01, 0.05, 0.5):
        cal = fit_linear_calibration(raw_t, raw_n, p_target=p)
        assert cal.a > 0 and cal.p_target == p
        ct, cn = cal.apply(raw_t), cal.apply(raw_n)
        assert cllr(ct, cn) < cllr(raw_t, raw_n) - 0.5
        assert equal_error_rate(ct, cn).eer == raw_eer
        assert min_detection_cost(ct, cn, p).min_dcf == min_detection_cost(raw_t, raw_n, p).min_dcf
        assert actual_dcf(ct, cn, p) <= actual_dcf(raw_t, raw_n, p)
    # the true LLR is 2 s - 2 = 8 raw - 26: the p=0.5 fit recovers it
    cal = fit_linear_calibration(raw_t, raw_n, p_target=0.5)
    assert cal.a == pytest.approx(8.0, rel=0.05)
    assert cal.b == pytest.approx(-26.0, rel=0.05)


def test_calibration_generalises_to_a_fresh_sample():
    train_t, train_n = gaussian_scores(20_000, 20_000, seed=5)
    test_t, test_n = gaussian_scores(20_000, 20_000, seed=6)
    for p in (0.5, 0.01):
        cal = fit_linear_calibration(5 * train_t - 1, 5 * train_n - 1, p_target=p)
        got = cllr(cal.apply(5 * test_t - 1), cal.apply(5 * test_n - 1))
        best = min_cllr(test_t, test_n)
        assert best <= got < best + 0.01


def test_linear_calibration_minimises_the_weighted_objective():
    """The fitted (a, b) is a stationary point: nudging it never lowers the objective."""
    tgt, non = gaussian_scores(3000, 7000, seed=8, mean=1.5)
    p = 0.05
    cal = fit_linear_calibration(tgt, non, p_target=p)
    L = math.log(p / (1 - p))

    def objective(a, b):
        return p * np.mean(np.logaddexp(0, -(a * tgt + b + L))) + (1 - p) * np.mean(np.logaddexp(0, a * non + b + L))

    best = objective(cal.a, cal.b)
    for da, db in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3), (1e-3, -1e-3)):
        assert objective(cal.a + da, cal.b + db) >= best - 1e-12


def test_linear_calibration_json_round_trip_and_errors():
    cal = fit_linear_calibration([0.6, 0.7, 0.4, 0.8], [0.1, 0.2, 0.5, 0.0], p_target=0.05)
    again = LinearCalibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal
    np.testing.assert_array_equal(again.apply([0.1, 0.9]), cal.apply([0.1, 0.9]))
    with pytest.raises(ValueError, match="missing"):
        LinearCalibration.from_dict({"a": 1.0})
    with pytest.raises(ValueError, match="kind"):
        LinearCalibration.from_dict({"kind": "pav", "a": 1, "b": 0, "p_target": 0.5})
    with pytest.raises(ValueError, match="p_target"):
        LinearCalibration.from_dict({"a": 1, "b": 0, "p_target": 2})
    with pytest.raises(ValueError, match="finite"):
        LinearCalibration.from_dict({"a": float("nan"), "b": 0, "p_target": 0.5})
    with pytest.raises(ValueError, match="p_target"):
        fit_linear_calibration([1.0], [0.0], p_target=0.0)
    with pytest.raises(ValueError, match="empty"):
        fit_linear_calibration([], [0.0])
    with pytest.raises(ValueError, match="NaN"):
        cal.apply([np.nan])
    # no information: LLR 0 everywhere
    assert fit_linear_calibration([1.0, 1.0], [1.0]) == LinearCalibration(0.0, 0.0, 0.01)
