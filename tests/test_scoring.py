"""Tests of custom_modules.scoring.trials against independent, loop-based references.

The references recompute every cosine with ``np.dot`` and norms, and for every trial score
its enrol and test embeddings against each cohort embedding one by one (sorting them for
top-k), so they share no code with the vectorised, cached implementation.
"""

import csv
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import custom_modules.scoring.trials as scoring
from custom_modules.scoring.cosine import cosine_trial_scores
from custom_modules.scoring.normalisation import NORM_METHODS, cohort_statistics, normalise_scores, speaker_mean_cohort
from custom_modules.scoring.trials import (
    Trial,
    TrialCounts,
    build_index,
    check_trial_ids,
    parse_trials,
    read_scores,
    trial_counts,
    trial_labels,
    utterance_id,
    write_scores,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV_DATA = os.path.join(ROOT, "..", "shared", "data", "dev")


def write(path, text, newline=None):
    with open(path, "w", newline=newline) as handle:
        handle.write(text)
    return str(path)


# --------------------------------------------------------------------------- references
def ref_cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def ref_cohort_stats(vector, cohort, top_k=None):
    """Mean and population std of the (top-k) cosine scores of one vector, by a loop."""
    values = sorted((ref_cosine(vector, c) for c in cohort), reverse=True)
    if top_k is not None:
        values = values[:top_k]
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return mean, std


def ref_normalised(trials, embeddings, index, cohort, method, top_k=None):
    """Brute force: for every trial, score both sides against the whole cohort again."""
    out = []
    for trial in trials:
        e, t = embeddings[index[trial.enrol]], embeddings[index[trial.test]]
        s = ref_cosine(e, t)
        if method == "none":
            out.append(s)
            continue
        mu_e, sd_e = ref_cohort_stats(e, cohort, top_k)
        mu_t, sd_t = ref_cohort_stats(t, cohort, top_k)
        z, tn = (s - mu_e) / sd_e, (s - mu_t) / sd_t
        out.append({"z": z, "t": tn, "s": 0.5 * (z + tn), "as": 0.5 * (z + tn)}[method])
    return np.array(out)


@pytest.fixture
def setup():
    """30 utterances of 5 speakers (dim 16), a 40-embedding cohort and 200 random trials."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(5, 16))
    speakers = rng.integers(0, 5, size=30)
    embeddings = centres[speakers] + 0.7 * rng.normal(size=(30, 16))
    ids = [f"spk{s}/utt{i:02d}" for i, s in enumerate(speakers)]
    index = build_index(ids)
    cohort = rng.normal(size=(40, 16)) * rng.uniform(0.5, 3.0, size=(40, 1))  # not unit norm
    trials = []
    for _ in range(200):
        a, b = rng.integers(0, 30, size=2)
        trials.append(Trial(int(speakers[a] == speakers[b]), ids[a], ids[b]))
    return embeddings, ids, index, cohort, trials


# --------------------------------------------------------------------------- parsing
def test_utterance_id_strips_only_audio_extension():
    assert utterance_id("asc_s17/backward_06.wav") == "asc_s17/backward_06"
    assert utterance_id("a/b.FLAC") == "a/b"
    assert utterance_id("id.with.dots/utt.1.wav") == "id.with.dots/utt.1"
    assert utterance_id("a/b.mp3") == "a/b.mp3"
    assert utterance_id("asc_s17/backward_06") == "asc_s17/backward_06"


def test_parse_voxceleb_with_tabs_and_multiple_spaces(tmp_path):
    path = write(tmp_path / "t.txt", "1 a/1.wav b/2.wav\n0\tc/3.wav\t\td/4.wav\n1    e/5.flac   f/6.wav   \n")
    assert parse_trials(path) == [
        Trial(1, "a/1", "b/2"),
        Trial(0, "c/3", "d/4"),
        Trial(1, "e/5", "f/6"),
    ]


def test_parse_nist_format_mixed_comments_blank_and_crlf(tmp_path):
    text = (
        "# header comment\r\n\r\n"
        "a/1.wav b/2.wav target\r\n"
        "   # indented comment\r\n"
        "a/1 c/3\tnontarget\r\n"
        "  \t \r\n"
        "0 a/1.wav c/3.wav\r\n"
    )
    path = write(tmp_path / "t.txt", text, newline="")
    trials = parse_trials(path)
    assert trials == [Trial(1, "a/1", "b/2"), Trial(0, "a/1", "c/3"), Trial(0, "a/1", "c/3")]
    assert all(isinstance(t.label, int) for t in trials)


def test_parse_accepts_pathlike_and_single_class_lists(tmp_path):
    path = tmp_path / "t.txt"
    write(path, "0 a b\n0 a c\n")
    trials = parse_trials(path)
    assert trial_counts(trials) == TrialCounts(trials=2, targets=0, nontargets=2, enrol=1, test=2)
    assert trial_labels(trials).tolist() == [False, False]


@pytest.mark.parametrize("bad", ["1 a.wav", "2 a.wav b.wav", "a b maybe", "1 a b c", "target a b"])
def test_malformed_line_names_file_and_line(tmp_path, bad):
    path = write(tmp_path / "trials.txt", f"# comment\n1 a b\n{bad}\n1 c d\n")
    pattern = re.escape(
        f"{path}, line 3: expected '<0|1> <enrol> <test>' or '<enrol> <test> <target|nontarget>', got {bad!r}"
    )
    with pytest.raises(ValueError, match=pattern):
        parse_trials(path)


def test_missing_trial_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"nothere\.txt: trial list not found"):
        parse_trials(str(tmp_path / "nothere.txt"))


def test_unknown_ids_listed_first_five_and_counted():
    trials = [Trial(1, "ok", f"bad{i}") for i in range(7)] + [Trial(0, "bad0", "bad1")]
    with pytest.raises(ValueError) as info:
        check_trial_ids(trials, ["ok", "other"], source="test.csv")
    message = str(info.value)
    assert message.startswith("7 trial ID(s) not in test.csv, first: ['bad0', 'bad1', 'bad2', 'bad3', 'bad4']")
    assert "bad5" not in message and "bad6" not in message
    assert "relative to wav/" in message and ".wav stripped" in message
    check_trial_ids(trials[:1], {"ok", "bad0"})  # no error when all are known


def test_build_index_refuses_duplicates():
    with pytest.raises(ValueError, match=r"duplicate ID 'a' at rows 0 and 2"):
        build_index(["a", "b", "a"])


# --------------------------------------------------------------------------- cosine
def test_cosine_scores_equal_loop_reference(setup):
    embeddings, _, index, _, trials = setup
    ref = np.array([ref_cosine(embeddings[index[t.enrol]], embeddings[index[t.test]]) for t in trials])
    got = cosine_trial_scores(trials, embeddings, index)
    assert got.dtype == np.float64 and got.shape == (len(trials),)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    for chunk in (1, 7, 10_000):
        np.testing.assert_allclose(
            cosine_trial_scores(trials, embeddings, index, chunk_size=chunk), ref, rtol=0, atol=1e-12
        )
    # float32 input still gives float64 scores of the same (float32) vectors
    got32 = cosine_trial_scores(trials, embeddings.astype(np.float32), index)
    assert got32.dtype == np.float64
    np.testing.assert_allclose(got32, ref, atol=1e-6)


def test_cosine_scores_errors(setup):
    embeddings, _, index, _, trials = setup
    with pytest.raises(ValueError, match=r"1 trial ID\(s\) not in the embedding index, first: \['nope'\]"):
        cosine_trial_scores(trials + [Trial(1, "nope", trials[0].test)], embeddings, index)
    zero = embeddings.copy()
    zero[3] = 0
    with pytest.raises(ValueError, match=r"embeddings has 1 all-zero row\(s\), first row 3"):
        cosine_trial_scores(trials, zero, index)
    with pytest.raises(ValueError, match=r"outside the 10 embedding rows"):
        cosine_trial_scores(trials, embeddings[:10], index)


# --------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize(
    "method,top_k", [("none", None), ("z", None), ("t", None), ("s", None), ("as", 7), ("as", 2), ("z", 5), ("t", 12)]
)
def test_normalisation_equals_brute_force(setup, method, top_k):
    embeddings, _, index, cohort, trials = setup
    mean, std = cohort_statistics(embeddings, cohort, top_k=top_k)
    raw = cosine_trial_scores(trials, embeddings, index)
    got = normalise_scores(raw, trials, index, mean, std, method)
    ref = ref_normalised(trials, embeddings, index, cohort, method, top_k)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)


def test_cohort_statistics_equal_per_utterance_reference(setup):
    embeddings, _, _, cohort, _ = setup
    for top_k in (None, 1, 3, 40):
        mean, std = cohort_statistics(embeddings, cohort, top_k=top_k)
        ref = np.array([ref_cohort_stats(v, cohort, top_k) for v in embeddings])
        np.testing.assert_allclose(mean, ref[:, 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(std, ref[:, 1], rtol=0, atol=1e-12)
    # top-1: the single best score, std 0
    mean1, std1 = cohort_statistics(embeddings, cohort, top_k=1)
    assert np.all(std1 == 0)


def test_as_norm_with_full_top_k_equals_s_norm(setup):
    embeddings, _, index, cohort, trials = setup
    raw = cosine_trial_scores(trials, embeddings, index)
    full = normalise_scores(raw, trials, index, *cohort_statistics(embeddings, cohort), "s")
    topm = normalise_scores(raw, trials, index, *cohort_statistics(embeddings, cohort, top_k=40), "as")
    np.testing.assert_allclose(topm, full, rtol=0, atol=1e-12)
    # and a smaller top_k really changes the scores
    top5 = normalise_scores(raw, trials, index, *cohort_statistics(embeddings, cohort, top_k=5), "as")
    assert np.max(np.abs(top5 - full)) > 1e-3


def test_z_norm_keeps_ranking_within_each_enrolment(setup):
    embeddings, _, index, cohort, trials = setup
    raw = cosine_trial_scores(trials, embeddings, index)
    z = normalise_scores(raw, trials, index, *cohort_statistics(embeddings, cohort), "z")
    enrols = np.array([t.enrol for t in trials])
    checked = 0
    for enrol in set(enrols.tolist()):
        rows = np.flatnonzero(enrols == enrol)
        if rows.size > 1:
            assert np.argsort(raw[rows], kind="stable").tolist() == np.argsort(z[rows], kind="stable").tolist()
            checked += 1
    assert checked > 5
    # t-norm changes the ranking across enrolments somewhere (it is not the identity)
    assert not np.array_equal(np.argsort(raw), np.argsort(z))


@pytest.mark.parametrize("top_k", [None, 3])
def test_cohort_statistics_chunking_is_invisible(setup, top_k):
    embeddings, _, _, cohort, _ = setup
    base_mean, base_std = cohort_statistics(embeddings, cohort, top_k=top_k, chunk_size=1024)
    for chunk in (1, 4, 7, 29, 30):
        mean, std = cohort_statistics(embeddings, cohort, top_k=top_k, chunk_size=chunk)
        np.testing.assert_allclose(mean, base_mean, rtol=0, atol=1e-12)
        np.testing.assert_allclose(std, base_std, rtol=0, atol=1e-12)


def test_cohort_statistics_are_float64_from_float32(setup):
    embeddings, _, _, cohort, _ = setup
    mean, std = cohort_statistics(embeddings.astype(np.float32), cohort.astype(np.float32), top_k=4)
    assert mean.dtype == np.float64 and std.dtype == np.float64
    ref_mean, ref_std = cohort_statistics(embeddings, cohort, top_k=4)
    np.testing.assert_allclose(mean, ref_mean, atol=1e-5)


@pytest.mark.parametrize("top_k", [0, 41, -1, 2.5, True])
def test_top_k_out_of_range_names_cohort_size(setup, top_k):
    embeddings, _, _, cohort, _ = setup
    with pytest.raises(ValueError, match=r"top_k must be an integer from 1 to the cohort size M=40"):
        cohort_statistics(embeddings, cohort, top_k=top_k)


def test_dimension_mismatch_and_unknown_method(setup):
    embeddings, _, index, cohort, trials = setup
    with pytest.raises(ValueError, match=r"dimension 16 but the cohort has 8"):
        cohort_statistics(embeddings, cohort[:, :8])
    mean, std = cohort_statistics(embeddings, cohort)
    raw = cosine_trial_scores(trials, embeddings, index)
    with pytest.raises(
        ValueError,
        match=re.escape("unknown score normalisation 'snorm'; valid methods are ['none', 'z', 't', 's', 'as']"),
    ):
        normalise_scores(raw, trials, index, mean, std, "snorm")
    with pytest.raises(ValueError, match=r"one score per trial \(200\), got shape \(199,\)"):
        normalise_scores(raw[:-1], trials, index, mean, std, "s")
    assert NORM_METHODS == ("none", "z", "t", "s", "as")


def test_zero_std_is_guarded(setup):
    embeddings, _, index, cohort, trials = setup
    mean, std = cohort_statistics(embeddings, cohort[:1])  # one cohort embedding: std == 0
    assert np.all(std == 0)
    raw = cosine_trial_scores(trials, embeddings, index)
    for method in ("z", "t", "s"):
        out = normalise_scores(raw, trials, index, mean, std, method, eps=1e-6)
        assert np.all(np.isfinite(out))
    z = normalise_scores(raw, trials, index, mean, std, "z", eps=1e-6)
    e = np.array([index[t.enrol] for t in trials])
    np.testing.assert_allclose(z, (raw - mean[e]) / 1e-6, rtol=1e-12)


def test_normalise_none_returns_a_copy(setup):
    embeddings, _, index, cohort, trials = setup
    raw = cosine_trial_scores(trials, embeddings, index)
    out = normalise_scores(raw, trials, index, None, None, "none")
    np.testing.assert_array_equal(out, raw)
    out[0] = 99.0
    assert raw[0] != 99.0


# --------------------------------------------------------------------------- cohort
def test_speaker_mean_cohort_equals_normalised_means():
    rng = np.random.default_rng(3)
    embeddings = rng.normal(size=(50, 8)) + 2.0
    labels = [f"s{int(k)}" for k in rng.integers(0, 6, size=50)]
    cohort, speakers = speaker_mean_cohort(embeddings, labels)
    assert speakers == sorted(set(labels))
    assert cohort.shape == (len(speakers), 8)
    np.testing.assert_allclose(np.linalg.norm(cohort, axis=1), 1.0, rtol=0, atol=1e-12)
    for row, spk in zip(cohort, speakers):
        members = [embeddings[i] for i in range(50) if labels[i] == spk]
        mean = sum(members) / len(members)
        np.testing.assert_allclose(row, mean / np.sqrt(np.dot(mean, mean)), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"49 speaker IDs for 50 embedding rows"):
        speaker_mean_cohort(embeddings, labels[:-1])


def test_speaker_mean_cohort_feeds_cohort_statistics(setup):
    embeddings, ids, _, _, _ = setup
    cohort, speakers = speaker_mean_cohort(embeddings, [i.split("/")[0] for i in ids])
    mean, std = cohort_statistics(embeddings, cohort, top_k=len(speakers))
    assert mean.shape == (30,) and np.all(std > 0)


# --------------------------------------------------------------------------- score files
def test_write_read_round_trip(tmp_path, setup):
    embeddings, _, index, _, trials = setup
    scores = cosine_trial_scores(trials, embeddings, index) * 3.0
    path = tmp_path / "out" / "scores.txt"
    write_scores(path, trials, scores)
    lines = path.read_text().splitlines()
    assert len(lines) == len(trials)
    first = lines[0].split(" ")
    assert first[:3] == [trials[0].enrol, trials[0].test, str(trials[0].label)]
    assert re.fullmatch(r"-?\d+\.\d{6}", first[3])
    back_trials, back_scores = read_scores(path)
    assert back_trials == trials
    np.testing.assert_allclose(back_scores, scores, rtol=0, atol=5e-7 + 1e-12)
    np.testing.assert_array_equal(back_scores, np.round(scores, 6))


def test_read_scores_malformed_line(tmp_path):
    path = write(tmp_path / "s.txt", "a b 1 0.5\na b yes 0.3\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 2: expected '<enrol> <test> <0|1> <score>'")):
        read_scores(path)
    path = write(tmp_path / "s2.txt", "a b 1 high\n")
    with pytest.raises(ValueError, match=r"line 1"):
        read_scores(path)


def test_write_scores_length_mismatch(tmp_path):
    with pytest.raises(ValueError, match=r"one score per trial \(1\)"):
        write_scores(tmp_path / "s.txt", [Trial(1, "a", "b")], [0.1, 0.2])


# --------------------------------------------------------------------------- misc
def test_module_does_not_import_torch():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('s', {scoring.__file__!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(DEV_DATA, "trials.txt")), reason="dev data (../shared/data/dev) not present"
)
def test_dev_trials_parse_and_match_test_csv():
    trials = parse_trials(os.path.join(DEV_DATA, "trials.txt"))
    counts = trial_counts(trials)
    assert counts.trials == 6000
    assert counts.targets == 3000 and counts.nontargets == 3000
    with open(os.path.join(DEV_DATA, "test.csv"), newline="") as handle:
        ids = [row["ID"] for row in csv.DictReader(handle)]
    check_trial_ids(trials, ids, source="test.csv")
    used = {t.enrol for t in trials} | {t.test for t in trials}
    assert used <= set(ids)
    assert not any(uid.endswith(".wav") for uid in used)
