"""Tests of custom_modules.scoring.bootstrap.

The fast engine (one sort, block sums by sparse products, expansion of a few blocks) is
checked against the plain weighted metrics (a full cumulative sum per resample), and those
against custom_modules.scoring.metrics on the trial list in which each trial is repeated ``weight``
times. Statistical behaviour: coverage of the true EER of a generating model with speaker
effects, narrowing with more speakers, warnings for degenerate lists, and the paired test.
"""

import json
import math

import numpy as np
import pytest
from scipy.stats import norm

import custom_modules.scoring.speaker_resampling as speaker_resampling
from custom_modules.scoring.bootstrap import (
    paired_speaker_bootstrap,
    seed_averaged_paired_bootstrap,
    speaker_bootstrap,
    speaker_bootstrap_trials,
    speaker_of,
    weighted_equal_error_rate,
    weighted_min_detection_cost,
)
from custom_modules.scoring.metrics import equal_error_rate, min_detection_cost
from custom_modules.scoring.trials import Trial

P_TARGETS = (0.01, 0.05, 0.5)


# --------------------------------------------------------------------------- synthetic lists
def speaker_trials(seed, speakers=40, targets=8, nontargets=16, d=2.0, tau=0.7):
    """Scores with speaker effects: speaker s has an offset o_s ~ N(0, tau^2); a target trial
    of s scores d + o_s + N(0, 1), a non-target trial (a, b), a != b, scores
    (o_a + o_b) / 2 + N(0, 1). Every speaker has ``targets`` target trials and is the enrol
    side of ``nontargets`` non-target trials against random other speakers."""
    rng = np.random.default_rng(seed)
    o = rng.normal(0.0, tau, speakers)
    e_t = np.repeat(np.arange(speakers), targets)
    e_n = np.repeat(np.arange(speakers), nontargets)
    t_n = (e_n + rng.integers(1, speakers, e_n.size)) % speakers
    s_t = d + o[e_t] + rng.normal(0.0, 1.0, e_t.size)
    s_n = (o[e_n] + o[t_n]) / 2 + rng.normal(0.0, 1.0, e_n.size)
    labels = np.r_[np.ones(e_t.size, bool), np.zeros(e_n.size, bool)]
    return np.r_[s_t, s_n], labels, np.r_[e_t, e_n], np.r_[e_t, t_n]


def true_eer(d=2.0, tau=0.7):
    """EER of the population of speaker_trials: targets ~ N(d, 1 + tau^2), non-targets
    ~ N(0, 1 + tau^2 / 2), so EER = Phi(-d / (sd_t + sd_n))."""
    return float(norm.cdf(-d / (math.sqrt(1 + tau**2) + math.sqrt(1 + tau**2 / 2))))


def tied_trials(seed, speakers=6, n=80):
    """Small list with many tied scores (integers), both classes, integer speakers."""
    rng = np.random.default_rng(seed)
    e = rng.integers(0, speakers, n)
    t = (e + rng.integers(1, speakers, n)) % speakers
    labels = rng.random(n) < 0.4
    labels[:2] = [True, False]
    t[labels] = e[labels]
    scores = rng.integers(0, 7, n).astype(float) + 2 * labels * rng.integers(0, 2, n)
    return scores, labels, e, t


def replay_counts(seed, n_speakers, resamples):
    """The speaker draw counts of speaker_bootstrap (one rng.integers call per resample)."""
    rng = np.random.default_rng(seed)
    return np.stack(
        [np.bincount(rng.integers(0, n_speakers, n_speakers), minlength=n_speakers) for _ in range(resamples)]
    ).astype(float)


# --------------------------------------------------------------------------- weighted metrics
@pytest.mark.parametrize("seed", range(20))
def test_weighted_metrics_equal_metrics_with_unit_and_integer_weights(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    scores = rng.integers(0, 6, n).astype(float) if seed % 2 else rng.normal(size=n)
    labels = rng.random(n) < 0.5
    labels[:2] = [True, False]
    ones = np.ones(n)
    assert weighted_equal_error_rate(scores, labels, ones) == equal_error_rate(scores[labels], scores[~labels]).eer
    for p in P_TARGETS:
        assert (
            weighted_min_detection_cost(scores, labels, ones, p)
            == min_detection_cost(scores[labels], scores[~labels], p).min_dcf
        )
    # integer weights: the list with each trial repeated `weight` times, bit for bit
    w = rng.integers(0, 4, n)
    w[:2] = [1, 1]
    rep_s, rep_l = np.repeat(scores, w), np.repeat(labels, w)
    assert weighted_equal_error_rate(scores, labels, w) == equal_error_rate(rep_s[rep_l], rep_s[~rep_l]).eer
    for p in P_TARGETS:
        assert (
            weighted_min_detection_cost(scores, labels, w, p, c_miss=2.0)
            == min_detection_cost(rep_s[rep_l], rep_s[~rep_l], p, c_miss=2.0).min_dcf
        )


def test_weighted_metrics_errors():
    with pytest.raises(ValueError, match="non-negative"):
        weighted_equal_error_rate([1, 0], [1, 0], [1, -1])
    with pytest.raises(ValueError, match="positive"):
        weighted_equal_error_rate([1, 0], [1, 0], [0, 1])
    with pytest.raises(ValueError, match="one per trial"):
        weighted_equal_error_rate([1, 0], [1, 0], [1])
    with pytest.raises(ValueError, match="0 \\(non-target\\) or 1"):
        weighted_equal_error_rate([1, 0], [2, 0], [1, 1])
    with pytest.raises(ValueError, match="at least one of each"):
        weighted_equal_error_rate([1, 0], [1, 1], [1, 1])
    with pytest.raises(ValueError, match="p_target"):
        weighted_min_detection_cost([1, 0], [1, 0], [1, 1], p_target=0)


# --------------------------------------------------------------------------- fast engine
@pytest.mark.parametrize("mode", ["product", "count"])
@pytest.mark.parametrize("block_size", [None, 1, 3, 7])
def test_engine_equals_weighted_metrics_per_resample(mode, block_size):
    for seed in range(4):
        scores, labels, e, t = tied_trials(seed) if seed % 2 else speaker_trials(seed, speakers=8)[:4]
        s = int(max(e.max(), t.max())) + 1
        res = speaker_bootstrap(
            scores,
            labels,
            e,
            t,
            p_targets=P_TARGETS,
            resamples=25,
            seed=seed,
            same_speaker_weight=mode,
            return_samples=True,
            block_size=block_size,
        )
        counts = replay_counts(seed, s, 25)
        for r in range(25):
            w = counts[r, e] * counts[r, t]
            if mode == "count":
                w = np.where(e == t, counts[r, e], w)
            if w[labels].sum() == 0 or w[~labels].sum() == 0:
                assert np.isnan(res["samples"]["eer"][r])
                continue
            assert res["samples"]["eer"][r] == weighted_equal_error_rate(scores, labels, w)
            for m, p in enumerate(P_TARGETS):
                assert res["samples"]["min_dcf"][r, m] == weighted_min_detection_cost(scores, labels, w, p)


def test_engine_float64_path_gives_the_same_samples(monkeypatch):
    scores, labels, e, t = speaker_trials(3, speakers=12)
    fast = speaker_bootstrap(scores, labels, e, t, resamples=40, return_samples=True)
    monkeypatch.setattr(speaker_resampling, "_EXACT32_LIMIT", 0.0)  # block sums in float64
    slow = speaker_bootstrap(scores, labels, e, t, resamples=40, return_samples=True)
    np.testing.assert_array_equal(fast["samples"]["eer"], slow["samples"]["eer"])
    np.testing.assert_array_equal(fast["samples"]["min_dcf"], slow["samples"]["min_dcf"])


def test_values_equal_unweighted_metrics_exactly():
    for seed in range(6):
        scores, labels, e, t = tied_trials(seed) if seed % 2 else speaker_trials(seed)
        res = speaker_bootstrap(scores, labels, e, t, p_targets=P_TARGETS, resamples=5, block_size=4)
        assert res["eer"]["value"] == equal_error_rate(scores[labels], scores[~labels]).eer
        for entry, p in zip(res["min_dcf"], P_TARGETS):
            assert entry["p_target"] == p
            assert entry["value"] == min_detection_cost(scores[labels], scores[~labels], p).min_dcf


def test_result_does_not_depend_on_knobs_or_trial_order():
    scores, labels, e, t = speaker_trials(5, speakers=15)
    ref = speaker_bootstrap(scores, labels, e, t, resamples=60, seed=3)
    for kwargs in ({"block_size": 1}, {"block_size": 5}, {"block_size": 10_000}, {"chunk_size": 1}, {"chunk_size": 7}):
        assert speaker_bootstrap(scores, labels, e, t, resamples=60, seed=3, **kwargs) == ref
    perm = np.random.default_rng(0).permutation(scores.size)
    assert speaker_bootstrap(scores[perm], labels[perm], e[perm], t[perm], resamples=60, seed=3) == ref
    # string IDs "<speaker>/<utt>" whose speakers sort like the integers: the same draws
    enrol = [f"spk{x:02d}/u{i}" for i, x in enumerate(e)]
    test = [f"spk{x:02d}/v{i}" for i, x in enumerate(t)]
    by_id = speaker_bootstrap(scores, labels, enrol, test, resamples=60, seed=3)
    assert by_id == ref
    mapping = {u: u.split("/")[0] for u in enrol + test}
    renamed = {u: "x" + s for u, s in mapping.items()}
    assert speaker_bootstrap(scores, labels, enrol, test, resamples=60, seed=3, speaker_map=renamed) == ref
    # a different seed gives other draws
    assert speaker_bootstrap(scores, labels, e, t, resamples=60, seed=4)["eer"] != ref["eer"]


def test_result_is_json_serialisable_and_complete():
    scores, labels, e, t = speaker_trials(1, speakers=10)
    res = speaker_bootstrap(scores, labels, e, t, resamples=30)
    again = json.loads(json.dumps(res))
    assert again == res
    assert set(res["eer"]) == {"value", "low", "high"}
    assert [d["p_target"] for d in res["min_dcf"]] == [0.01, 0.05]
    assert res["n_trials"] == scores.size and res["n_speakers"] == 10
    assert res["n_target"] == int(labels.sum()) and res["resamples"] == res["valid_resamples"] == 30
    for entry in [res["eer"]] + res["min_dcf"]:
        assert entry["low"] <= entry["high"]


# --------------------------------------------------------------------------- statistics
def test_interval_covers_true_eer_of_the_generating_model():
    truth = true_eer()
    covered = 0
    for rep in range(100):
        scores, labels, e, t = speaker_trials(1000 + rep)
        res = speaker_bootstrap(scores, labels, e, t, p_targets=(0.05,), resamples=200, seed=rep)
        covered += res["eer"]["low"] <= truth <= res["eer"]["high"]
    assert covered >= 88


def test_interval_narrows_as_speakers_are_added():
    widths = []
    for speakers in (10, 40, 160):
        scores, labels, e, t = speaker_trials(7, speakers=speakers)
        res = speaker_bootstrap(scores, labels, e, t, resamples=300, seed=1)
        widths.append(res["eer"]["high"] - res["eer"]["low"])
    assert widths[0] > 1.4 * widths[1] > 1.4 * 1.4 * widths[2]


def test_count_mode_is_narrower_than_product_mode():
    scores, labels, e, t = speaker_trials(11, speakers=40)
    prod = speaker_bootstrap(scores, labels, e, t, resamples=400, seed=2, same_speaker_weight="product")
    count = speaker_bootstrap(scores, labels, e, t, resamples=400, seed=2)  # the default
    assert prod["eer"]["value"] == count["eer"]["value"]
    assert count["eer"]["high"] - count["eer"]["low"] < prod["eer"]["high"] - prod["eer"]["low"]


# --------------------------------------------------------------------------- warnings
def test_single_speaker_warns_and_gives_a_point_interval():
    scores = [0.9, 0.8, 0.1, 0.85, 0.2]
    labels = [1, 1, 0, 0, 1]  # labels a speaker list cannot explain: one speaker only
    ids = ["alice/1", "alice/2", "alice/3", "alice/4", "alice/5"]
    res = speaker_bootstrap(scores, labels, ids, ids[::-1], resamples=20)
    assert res["n_speakers"] == 1
    assert "meaningless" in res["warning"]
    assert res["eer"]["low"] == res["eer"]["value"] == res["eer"]["high"]


def test_single_speaker_pair_warns():
    scores, labels = [0.9, 0.2, 0.7, 0.4], [1, 0, 1, 0]
    res = speaker_bootstrap(scores, labels, ["a/1"] * 4, ["b/1", "b/2", "b/3", "b/4"], resamples=50)
    assert res["n_speakers"] == 2 and res["n_speaker_pairs"] == 1
    assert "single" in res["warning"] and "meaningless" in res["warning"]


def test_resamples_without_a_class_are_left_out_with_a_warning():
    # targets only from speaker a: every resample without a has no target weight
    scores = [0.9, 0.8, 0.3, 0.2, 0.4]
    labels = [1, 1, 0, 0, 0]
    enrol = ["a/1", "a/2", "a/1", "b/1", "c/1"]
    test = ["a/3", "a/4", "b/2", "c/2", "a/5"]
    res = speaker_bootstrap(scores, labels, enrol, test, resamples=200, seed=0, return_samples=True)
    left_out = int(np.isnan(res["samples"]["eer"]).sum())
    assert 0 < left_out < 200
    assert res["valid_resamples"] == 200 - left_out
    assert f"{left_out} of 200 resamples" in res["warning"]
    assert res["eer"]["low"] is not None


def test_no_warning_for_a_normal_list():
    scores, labels, e, t = speaker_trials(2, speakers=12)
    assert speaker_bootstrap(scores, labels, e, t, resamples=50)["warning"] is None


# --------------------------------------------------------------------------- paired
def test_paired_bootstrap_of_a_system_against_itself():
    scores, labels, e, t = speaker_trials(4, speakers=20)
    res = paired_speaker_bootstrap(scores, scores.copy(), labels, e, t, resamples=200, return_samples=True)
    assert res["eer_difference"] == {"value": 0.0, "low": 0.0, "high": 0.0}
    assert res["significant"] is False
    assert all(
        d["value"] == d["low"] == d["high"] == 0.0 and d["significant"] is False for d in res["min_dcf_difference"]
    )
    np.testing.assert_array_equal(res["samples"]["eer_a"], res["samples"]["eer_b"])


def test_paired_bootstrap_uses_the_same_speakers_for_both_systems():
    scores, labels, e, t = speaker_trials(6, speakers=25)
    rng = np.random.default_rng(0)
    worse = scores + rng.normal(0, 1.5, scores.size)  # the same trials, noisier
    res = paired_speaker_bootstrap(worse, scores, labels, e, t, resamples=300, seed=9)
    alone_a = speaker_bootstrap(worse, labels, e, t, resamples=300, seed=9)
    alone_b = speaker_bootstrap(scores, labels, e, t, resamples=300, seed=9)
    assert res["eer_a"] == alone_a["eer"] and res["eer_b"] == alone_b["eer"]
    assert res["eer_difference"]["value"] == alone_a["eer"]["value"] - alone_b["eer"]["value"]
    assert res["eer_difference"]["low"] > 0 and res["significant"] is True
    # the paired interval is much narrower than the two separate intervals suggest
    paired = res["eer_difference"]["high"] - res["eer_difference"]["low"]
    assert paired < (alone_a["eer"]["high"] - alone_a["eer"]["low"]) + (alone_b["eer"]["high"] - alone_b["eer"]["low"])
    flipped = paired_speaker_bootstrap(scores, worse, labels, e, t, resamples=300, seed=9)
    assert flipped["eer_difference"]["high"] < 0 and flipped["significant"] is True
    assert json.loads(json.dumps(res)) == res


# --------------------------------------------------------------------------- seed-averaged
def test_seed_averaged_bootstrap_with_one_run_each_is_the_paired_bootstrap():
    scores, labels, e, t = speaker_trials(11, speakers=20)
    worse = scores + np.random.default_rng(1).normal(0, 1.0, scores.size)
    got = seed_averaged_paired_bootstrap([worse], [scores], labels, e, t, resamples=200, seed=4)
    want = paired_speaker_bootstrap(worse, scores, labels, e, t, resamples=200, seed=4)
    assert got["eer_difference"] == want["eer_difference"] and got["significant"] == want["significant"]
    for key in ("value", "low", "high"):
        assert got["eer_a"][key] == want["eer_a"][key] and got["eer_b"][key] == want["eer_b"][key]
    assert got["eer_a"]["runs"] == 1 and got["eer_a"]["std"] is None
    for g, w in zip(got["min_dcf_difference"], want["min_dcf_difference"]):
        assert g == w


def test_seed_averaged_bootstrap_averages_runs_on_the_same_speaker_draws():
    scores, labels, e, t = speaker_trials(12, speakers=25)
    rng = np.random.default_rng(2)
    runs_a = [scores + rng.normal(0, 0.5, scores.size) for _ in range(3)]
    runs_b = [scores + rng.normal(0, 1.5, scores.size) for _ in range(2)]
    res = seed_averaged_paired_bootstrap(runs_a, runs_b, labels, e, t, resamples=150, seed=7, return_samples=True)
    # independent reference: plain EER of each run, then the mean over runs
    eer = lambda s: equal_error_rate(s[labels], s[~labels]).eer  # noqa: E731
    assert res["eer_a"]["per_run"] == pytest.approx([eer(s) for s in runs_a], abs=1e-12)
    assert res["eer_a"]["value"] == pytest.approx(np.mean([eer(s) for s in runs_a]), abs=1e-12)
    assert res["eer_a"]["std"] == pytest.approx(np.std([eer(s) for s in runs_a], ddof=1), abs=1e-12)
    assert res["eer_difference"]["value"] == pytest.approx(
        np.mean([eer(s) for s in runs_a]) - np.mean([eer(s) for s in runs_b]), abs=1e-12
    )
    dcf = lambda s, p: min_detection_cost(s[labels], s[~labels], p_target=p).min_dcf  # noqa: E731
    assert res["min_dcf_difference"][0]["value_b"] == pytest.approx(np.mean([dcf(s, 0.01) for s in runs_b]), abs=1e-12)
    # every resample evaluates every run on the same speakers: the mean of the runs' own
    # bootstrap samples with the same seed
    alone = [
        speaker_bootstrap(s, labels, e, t, resamples=150, seed=7, return_samples=True)["samples"]["eer"] for s in runs_a
    ]
    np.testing.assert_allclose(res["samples"]["eer_a"], np.mean(alone, axis=0), rtol=0, atol=1e-12)
    assert res["eer_difference"]["high"] < 0 and res["significant"] is True
    assert json.loads(json.dumps({k: v for k, v in res.items() if k != "samples"}))["eer_a"]["runs"] == 3


def test_seed_averaged_bootstrap_errors():
    scores, labels, e, t = speaker_trials(13, speakers=10)
    with pytest.raises(ValueError, match="at least one run"):
        seed_averaged_paired_bootstrap([], [scores], labels, e, t)
    with pytest.raises(ValueError, match=r"runs_a\[0\] has .* and runs_b\[1\] "):
        seed_averaged_paired_bootstrap([scores], [scores, scores[:-1]], labels, e, t)


# --------------------------------------------------------------------------- inputs
def test_speaker_of_and_trials_wrapper():
    assert speaker_of("id10270/x6uYqmx31kE/00001") == "id10270"
    assert speaker_of("noslash") == "noslash"
    assert speaker_of(3) == 3
    with pytest.raises(ValueError, match="not in speaker_map"):
        speaker_of("u", {})
    trials = [
        Trial(1, "a/1", "a/2"),
        Trial(0, "a/1", "b/1"),
        Trial(1, "b/1", "b/2"),
        Trial(0, "b/2", "c/1"),
        Trial(1, "c/1", "c/2"),
        Trial(0, "c/2", "a/2"),
    ]
    scores = [0.9, 0.3, 0.6, 0.65, 0.8, 0.1]
    got = speaker_bootstrap_trials(trials, scores, resamples=50, seed=1)
    want = speaker_bootstrap(
        scores, [1, 0, 1, 0, 1, 0], [t.enrol for t in trials], [t.test for t in trials], resamples=50, seed=1
    )
    assert got == want and got["n_speakers"] == 3


def test_input_errors():
    s, lab = [0.9, 0.1, 0.8, 0.2], [1, 0, 1, 0]
    e, t = ["a/1", "a/2", "b/1", "b/2"], ["a/3", "b/3", "b/4", "a/4"]
    with pytest.raises(ValueError, match="one label per score"):
        speaker_bootstrap(s, lab[:3], e, t)
    with pytest.raises(ValueError, match="one per trial"):
        speaker_bootstrap(s, lab, e[:3], t)
    with pytest.raises(ValueError, match="non-finite"):
        speaker_bootstrap([np.nan, 0.1, 0.8, 0.2], lab, e, t)
    with pytest.raises(ValueError, match="at least one of each"):
        speaker_bootstrap(s, [1, 1, 1, 1], e, t)
    with pytest.raises(ValueError, match="p_target"):
        speaker_bootstrap(s, lab, e, t, p_targets=(0.01, 1.5))
    with pytest.raises(ValueError, match="resamples"):
        speaker_bootstrap(s, lab, e, t, resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        speaker_bootstrap(s, lab, e, t, confidence=1.0)
    with pytest.raises(ValueError, match="same_speaker_weight"):
        speaker_bootstrap(s, lab, e, t, same_speaker_weight="square")
    with pytest.raises(ValueError, match="not in speaker_map"):
        speaker_bootstrap(s, lab, e, t, speaker_map={"a/1": "a"})
    with pytest.raises(ValueError, match="sequence"):
        speaker_bootstrap(s, lab, "a/1", t)
    with pytest.raises(ValueError, match="same trials"):
        paired_speaker_bootstrap(s, s[:3], lab, e, t)
