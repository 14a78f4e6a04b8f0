"""Speaker-fold cross-validation: folds, fold data, pooled figures, paired comparison, and
recipes/crossval.py end to end on the tiny synthetic dataset (in-process, about 15 s)."""

import importlib.util
import json
import os

import numpy as np
import pytest

from custom_modules.data.dataio import read_speaker_csv
from custom_modules.scoring.bootstrap import paired_speaker_bootstrap, speaker_bootstrap
from custom_modules.scoring.metrics import equal_error_rate
from custom_modules.scoring.trials import Trial, parse_trials
from custom_modules.studies.crossval import (
    CrossvalError,
    paired_comparison,
    pool_folds,
    seed_averaged_comparison,
    speaker_folds,
    write_fold_folder,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_folds_are_disjoint_cover_every_speaker_and_depend_on_the_seed_only():
    speakers = [f"s{i:02d}" for i in range(22)]
    folds = speaker_folds(speakers, 4, seed=1986)
    assert sorted(len(f) for f in folds) == [5, 5, 6, 6]
    assert sorted(sum(folds, [])) == speakers  # every speaker once
    assert speaker_folds(list(reversed(speakers)) + speakers[:3], 4, seed=1986) == folds  # order, duplicates
    assert speaker_folds(speakers, 4, seed=1987) != folds
    with pytest.raises(
        CrossvalError, match="5 speakers cannot make 3 folds of at least 2 test speakers; use --folds 2"
    ):
        speaker_folds(speakers[:5], 3, seed=0)
    with pytest.raises(CrossvalError, match="at least 2 folds"):
        speaker_folds(speakers, 1, seed=0)
    assert [len(f) for f in speaker_folds(speakers[:4], 2, seed=0)] == [2, 2]  # 2 test, 2 training speakers each


def test_a_fold_folder_trains_on_the_other_speakers_and_tests_among_its_own(tmp_path):
    rows = [{"ID": f"x{s}_{i}", "wav": f"wav/{s}/{i}.wav", "spk_id": s} for s in "abcdef" for i in range(5)]
    paths = write_fold_folder(str(tmp_path / "fold"), rows, ["b", "e"], "/data", trials_per_fold=20, seed=3)
    train, test = read_speaker_csv(paths["train"]), read_speaker_csv(paths["test"])
    assert sorted({r["spk_id"] for r in train}) == ["a", "c", "d", "f"] and len(train) == 20
    assert sorted({r["spk_id"] for r in test}) == ["b", "e"] and len(test) == 10
    assert all(r["wav"].startswith("/data/wav/") for r in train + test)
    trials = parse_trials(paths["trials"])
    speaker = {r["ID"]: r["spk_id"] for r in test}
    assert len(trials) == 20 and sum(t.label for t in trials) == 10
    assert all(t.label == int(speaker[t.enrol] == speaker[t.test]) for t in trials)
    before = os.path.getmtime(paths["trials"])
    write_fold_folder(str(tmp_path / "fold"), rows, ["b", "e"], "/data", trials_per_fold=20, seed=3)
    assert os.path.getmtime(paths["trials"]) == before  # unchanged content is not rewritten
    with pytest.raises(CrossvalError, match=r"test speakers \['z'\] have no utterance"):
        write_fold_folder(str(tmp_path / "bad"), rows, ["z"], "/data", trials_per_fold=20, seed=3)


def random_fold(fold, speakers, rng, shift):
    """Trials among ``speakers`` with IDs that do not start with the speaker (``u<n>``), so
    only the map can tell the speaker."""
    utts = {s: [f"u{fold}_{s}_{i}" for i in range(4)] for s in speakers}
    spk = {u: s for s, us in utts.items() for u in us}
    trials = [Trial(int(spk[a] == spk[b]), a, b) for a in spk for b in spk if a < b]
    labels = np.array([t.label for t in trials])
    scores = rng.normal(size=len(trials)) + shift * labels
    return {"fold": fold, "trials": trials, "scores": scores, "speakers": spk}


def test_pooled_figures_are_those_of_the_concatenated_trials_with_a_bootstrap_over_every_speaker():
    rng = np.random.default_rng(0)
    folds = [random_fold(0, ["a", "b", "c"], rng, 1.5), random_fold(1, ["d", "e", "f"], rng, 0.5)]
    report = pool_folds(folds, resamples=200, seed=5)
    scores = np.concatenate([f["scores"] for f in folds])
    labels = np.array([t.label for f in folds for t in f["trials"]])
    assert report["pooled"]["eer"] == equal_error_rate(scores[labels == 1], scores[labels == 0]).eer
    for fold, measured in zip(folds, report["folds"]):
        lab = np.array([t.label for t in fold["trials"]])
        assert measured["eer"] == equal_error_rate(fold["scores"][lab == 1], fold["scores"][lab == 0]).eer
    assert report["folds"][0]["speakers"] == ["a", "b", "c"]
    assert report["mean_fold_eer"] == pytest.approx(np.mean([f["eer"] for f in report["folds"]]))
    # the interval resamples the 6 speakers of the map (the IDs' text would give 48 "speakers")
    trials = [t for f in folds for t in f["trials"]]
    spk = {**folds[0]["speakers"], **folds[1]["speakers"]}
    expected = speaker_bootstrap(
        scores, labels, [t.enrol for t in trials], [t.test for t in trials], resamples=200, seed=5, speaker_map=spk
    )
    assert report["pooled"]["n_speakers"] == 6 and report["pooled"]["interval"]["n_speakers"] == 6
    assert report["pooled"]["interval"]["eer"] == expected["eer"]


def test_paired_comparison_is_zero_for_a_system_against_itself_and_refuses_other_folds():
    rng = np.random.default_rng(1)
    folds = [random_fold(0, ["a", "b", "c"], rng, 1.0), random_fold(1, ["d", "e", "f"], rng, 1.0)]
    same = paired_comparison(folds, folds, resamples=100)
    assert same["eer"]["value"] == 0.0 and same["eer"]["low"] == 0.0 and same["eer"]["high"] == 0.0
    assert same["eer"]["significant"] is False
    better = [dict(f, scores=f["scores"] + 5.0 * np.array([t.label for t in f["trials"]])) for f in folds]
    diff = paired_comparison(better, folds, resamples=200)
    assert diff["eer"]["value"] < 0 and diff["eer"]["high"] < 0 and diff["eer"]["significant"] is True
    other = [folds[0], random_fold(1, ["d", "e", "g"], rng, 1.0)]
    with pytest.raises(CrossvalError, match="fold 1 has other trials in run 1 of A and run 1 of B"):
        paired_comparison(folds, other, resamples=10)


def test_one_seed_each_is_the_paired_speaker_bootstrap_of_the_pooled_scores():
    rng = np.random.default_rng(3)
    folds_a = [random_fold(0, ["a", "b", "c"], rng, 1.5), random_fold(1, ["d", "e", "f"], rng, 1.0)]
    folds_b = [
        dict(f, scores=rng.normal(size=len(f["trials"])) + 0.8 * np.array([t.label for t in f["trials"]]))
        for f in folds_a
    ]
    got = seed_averaged_comparison([folds_a], [folds_b], resamples=300, seed=4)
    trials = [t for f in folds_a for t in f["trials"]]
    spk = {**folds_a[0]["speakers"], **folds_a[1]["speakers"]}
    expected = paired_speaker_bootstrap(
        np.concatenate([f["scores"] for f in folds_a]),
        np.concatenate([f["scores"] for f in folds_b]),
        np.array([t.label for t in trials]),
        [t.enrol for t in trials],
        [t.test for t in trials],
        resamples=300,
        seed=4,
        speaker_map=spk,
    )
    assert {k: got["eer"][k] for k in ("value", "low", "high")} == expected["eer_difference"]
    assert got["runs"] == [1, 1] and got["eer_a"]["std"] is None


def test_several_seeds_are_averaged_and_checked_for_the_same_trials():
    rng = np.random.default_rng(5)
    base = [random_fold(0, ["a", "b", "c"], rng, 1.0), random_fold(1, ["d", "e", "f"], rng, 1.0)]

    def run(shift):
        return [
            dict(f, scores=rng.normal(size=len(f["trials"])) + shift * np.array([t.label for t in f["trials"]]))
            for f in base
        ]

    runs_a, runs_b = [run(2.0), run(1.5), run(2.5)], [run(0.5), run(1.0)]

    def pooled_eer(r):
        scores = np.concatenate([f["scores"] for f in r])
        labels = np.array([t.label for f in r for t in f["trials"]])
        return equal_error_rate(scores[labels == 1], scores[labels == 0]).eer

    eers_a, eers_b = [pooled_eer(r) for r in runs_a], [pooled_eer(r) for r in runs_b]
    for resamples in (0, 200):
        got = seed_averaged_comparison(runs_a, runs_b, resamples=resamples)
        assert got["eer"]["value"] == pytest.approx(np.mean(eers_a) - np.mean(eers_b), abs=1e-12)
        assert got["eer_a"]["per_run"] == pytest.approx(eers_a, abs=1e-12)
        assert got["eer_b"]["std"] == pytest.approx(np.std(eers_b, ddof=1), abs=1e-12)
        assert got["runs"] == [3, 2]
    assert got["eer"]["low"] <= got["eer"]["value"] <= got["eer"]["high"] < 0 and got["eer"]["significant"]
    # the same runs on both sides: every draw gives exactly 0
    same = seed_averaged_comparison(runs_a, runs_a, resamples=100)
    assert (same["eer"]["value"], same["eer"]["low"], same["eer"]["high"]) == (0.0, 0.0, 0.0)
    other = [base[0], random_fold(1, ["d", "e", "g"], rng, 1.0)]
    with pytest.raises(CrossvalError, match="fold 1 has other trials in run 1 of A and run 2 of B"):
        seed_averaged_comparison(runs_a, [runs_b[0], other], resamples=0)
    with pytest.raises(CrossvalError, match="each recipe needs at least one run: got 3 for A and 0 for B"):
        seed_averaged_comparison(runs_a, [], resamples=0)


def load_crossval():
    spec = importlib.util.spec_from_file_location("_crossval_recipe", os.path.join(ROOT, "recipes", "crossval.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = [
    "--m_channels=4",
    "--embedding_dim=16",
    "--n_features=40",
    "--batch_size=4",
    "--crop_seconds=0.3",
    "--num_workers=0",
    "--noprogressbar",
    "--number_of_epochs=1",
]


def test_crossval_recipe_end_to_end_resumes_refuses_a_changed_configuration_and_compares(
    tiny_dataset, tmp_path, capsys
):
    recipe = load_crossval()
    roots = ["--exp_root", str(tmp_path / "exp"), "--output_root", str(tmp_path / "results")]
    args = [
        "hparams/res2net_am_demo.yaml",
        "--data_folder",
        tiny_dataset,
        "--name",
        "tiny",
        "--folds",
        "3",
        "--trials_per_fold",
        "40",
        "--resamples",
        "50",
        *roots,
        *TINY,
    ]
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        recipe.main(args)
        out = str(tmp_path / "results" / "tiny")
        report = json.load(open(os.path.join(out, "crossval.json")))
        folds = report["configuration"]["fold_speakers"]
        assert len(folds) == 3 and sorted(sum(folds, [])) == ["spk0", "spk1", "spk2", "spk3", "tspk0", "tspk1"]
        for k, speakers in enumerate(folds, 1):  # fold k never trains on its test speakers
            trained = {
                r["spk_id"] for r in read_speaker_csv(str(tmp_path / "exp" / "tiny" / f"data_fold{k}" / "train.csv"))
            }
            assert not trained & set(speakers) and len(trained) == 4
        # the pooled EER is that of every fold's scores put together (scores.txt)
        lines = [line.split() for line in open(os.path.join(out, "scores.txt"))]
        scores, labels = np.array([float(p[6]) for p in lines]), np.array([int(p[5]) for p in lines])
        assert len(lines) == 3 * 40
        assert report["pooled"]["eer"] == pytest.approx(
            equal_error_rate(scores[labels == 1], scores[labels == 0]).eer, abs=1e-6
        )
        assert report["floor"]["n_target"] == report["pooled"]["n_target"]
        assert "| pooled (6 speakers) |" in open(os.path.join(out, "crossval.md")).read()
        capsys.readouterr()
        recipe.main(args)  # resumable: every fold is done already
        assert capsys.readouterr().out.count("done already") == 3
        with pytest.raises(SystemExit, match=r"another configuration:\n(.*\n)?  folds: 3 -> 2\n"):
            recipe.main([*args[:5], "--folds", "2", *args[7:]])
        recipe.main(
            ["compare", out, out, "--name", "same", "--resamples", "50", "--output_root", str(tmp_path / "results")]
        )
        diff = json.load(open(str(tmp_path / "results" / "same" / "comparison.json")))["difference"]
        assert diff["eer"]["value"] == 0.0 and diff["eer"]["significant"] is False

        # a later stage: every fold starts from the same fold's model of the study, head included
        stage = [*args[:4], "tiny_stage", *args[5:], "--init_from_study", "tiny", "--init_head=True"]
        capsys.readouterr()
        recipe.main(stage)
        printed = capsys.readouterr().out
        for k in (1, 2, 3):
            source = str(tmp_path / "exp" / "tiny" / f"fold{k}" / "1986" / "save" / "CKPT+")
            assert f"init_from: encoder initialised from {source}" in printed
        assert printed.count("the AM-Softmax head too") == 3
        config = json.load(open(str(tmp_path / "results" / "tiny_stage" / "crossval.json")))["configuration"]
        assert config["init_from_study"]["name"] == "tiny" and config["init_from_study"]["seed"] == 1986
        with pytest.raises(SystemExit, match=r"--init_from_study nowhere: .*configuration.json not found"):
            recipe.main([*args[:4], "x", *args[5:], "--init_from_study", "nowhere"])
        with pytest.raises(SystemExit, match=r"--init_from_study tiny: its folds are not this run's"):
            recipe.main([*args[:4], "x", *args[5:], "--fold_seed", "7", "--init_from_study", "tiny"])
        with pytest.raises(SystemExit, match=r"--init_from and --init_from_study both say"):
            recipe.main([*args[:4], "x", *args[5:], "--init_from_study", "tiny", f"--init_from={tmp_path}"])
    finally:
        os.chdir(cwd)


def second_corpus(root):
    """3 speakers of another synthetic corpus (IDs and speakers prefixed with 'o'), with a
    test set of its own (trials.txt + test.csv)."""
    from conftest import write_synthetic_speakers, write_synthetic_test_set

    folder = os.path.join(root, "other")
    write_synthetic_speakers(folder, speakers=3, utterances=6, seed=7)
    lines = open(os.path.join(folder, "train.csv")).read().strip().splitlines()
    renamed = [lines[0]]
    for line in lines[1:]:
        utt, duration, wav, start, stop, spk = line.split(",")
        renamed.append(",".join(["o" + utt, duration, wav, start, stop, "o" + spk]))
    open(os.path.join(folder, "train.csv"), "w").write("\n".join(renamed) + "\n")
    write_synthetic_test_set(folder, seed=9)
    return folder


def test_joint_training_adds_another_corpus_to_every_fold_balances_it_and_scores_its_trials(
    tiny_dataset, tmp_path, capsys
):
    recipe = load_crossval()
    other = second_corpus(str(tmp_path))
    args = [
        "hparams/res2net_am_demo.yaml",
        "--data_folder",
        tiny_dataset,
        "--name",
        "joint",
        "--folds",
        "3",
        "--trials_per_fold",
        "40",
        "--resamples",
        "0",
        "--exp_root",
        str(tmp_path / "exp"),
        "--output_root",
        str(tmp_path / "results"),
        "--extra_train",
        os.path.join(other, "train.csv"),
        "--extra_test",
        other,
        "--balance_corpora=True",
        *TINY,
    ]
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        recipe.main(args)
        printed = capsys.readouterr().out
        assert printed.count("each of 2 corpora") == 3  # every fold samples both corpora equally
        train = read_speaker_csv(str(tmp_path / "exp" / "joint" / "data_fold1" / "train.csv"))
        corpora = {r["corpus"] for r in train}
        assert corpora == {"data", "other"}
        assert {r["spk_id"] for r in train if r["corpus"] == "other"} == {"ospk0", "ospk1", "ospk2"}
        report = json.load(open(str(tmp_path / "results" / "joint" / "crossval.json")))
        extra = report["extra_test"][0]
        assert (
            extra["trials"] == os.path.relpath(os.path.join(other, "trials.txt"), ROOT) and len(extra["fold_eer"]) == 3
        )
        assert extra["mean_eer"] == pytest.approx(np.mean(extra["fold_eer"]))
        assert len(extra["fold_floor_eer"]) == 3  # each fold's floor, fitted on that fold's training set
        assert extra["floor_eer"] == pytest.approx(np.mean(extra["fold_floor_eer"]))
        # a cross-validated speaker in the extra corpus would be trained on in its own fold: refused
        clash = str(tmp_path / "clash.csv")
        rows = open(os.path.join(tiny_dataset, "train.csv")).read().strip().splitlines()[:3]
        open(clash, "w").write("\n".join(rows).replace("wav/", os.path.join(tiny_dataset, "wav") + "/") + "\n")
        with pytest.raises(SystemExit, match=r"speakers \['spk0'\] are both cross-validated and in an --extra_train"):
            recipe.main([*args[:4], "clash", *args[5:16], clash, *args[17:]])
    finally:
        os.chdir(cwd)


def write_result_folder(folder, name, seed, folds, hparams_sha="h1"):
    """A results/crossval/<name> folder as recipes/crossval.py writes it (report + scores.txt)."""
    from custom_modules.studies.crossval_run import write_pooled_scores

    os.makedirs(folder)
    report = pool_folds(folds, resamples=0)
    report["name"] = name
    report["configuration"] = {"hparams_sha256": hparams_sha, "folds": len(folds), "seed": seed}
    json.dump(report, open(os.path.join(folder, "crossval.json"), "w"))
    write_pooled_scores(os.path.join(folder, "scores.txt"), folds)


def test_compare_command_averages_the_seeds_of_a_side_and_refuses_other_recipes(tmp_path, capsys):
    rng = np.random.default_rng(11)
    base = [random_fold(0, ["a", "b", "c"], rng, 1.0), random_fold(1, ["d", "e", "f"], rng, 1.0)]

    def folds(shift):
        return [
            dict(
                f,
                scores=np.round(
                    rng.normal(size=len(f["trials"])) + shift * np.array([t.label for t in f["trials"]]), 6
                ),
            )
            for f in base
        ]

    runs = {"x": (1986, folds(2.0)), "x_seed1987": (1987, folds(1.0)), "y": (1986, folds(0.5))}
    for name, (seed, fold_scores) in runs.items():
        write_result_folder(str(tmp_path / name), name, seed, fold_scores)
    write_result_folder(str(tmp_path / "z"), "z", 1987, folds(1.0), hparams_sha="h2")
    write_result_folder(str(tmp_path / "x_again"), "x_again", 1986, folds(1.0))
    recipe = load_crossval()
    out = ["--name", "seeds", "--resamples", "100", "--output_root", str(tmp_path / "out")]
    recipe.main(["compare", f"{tmp_path}/x,{tmp_path}/x_seed1987", str(tmp_path / "y"), *out])
    saved = json.load(open(tmp_path / "out" / "seeds" / "comparison.json"))
    eers = {name: pool_folds(f, resamples=0)["pooled"]["eer"] for name, (_, f) in runs.items()}
    expected = (eers["x"] + eers["x_seed1987"]) / 2 - eers["y"]
    assert saved["difference"]["eer"]["value"] == pytest.approx(expected, abs=1e-12)
    assert saved["a"] == ["x", "x_seed1987"] and saved["b"] == ["y"]
    assert saved["difference"]["runs"] == [2, 1]
    text = open(tmp_path / "out" / "seeds" / "comparison.md").read()
    assert "| A: x (seed 1986) |" in text and "| A: x_seed1987 (seed 1987) |" in text
    assert "| A: mean of 2 seeds |" in text and "(seed-averaged pooled EER)" in text
    with pytest.raises(SystemExit, match=r"A: .*/z is not .*/x with another seed: they differ in hparams_sha256"):
        recipe.main(["compare", f"{tmp_path}/x,{tmp_path}/z", str(tmp_path / "y"), *out])
    with pytest.raises(SystemExit, match=r"B: two of its runs have the same seed \(\[1986, 1986\]\)"):
        recipe.main(["compare", str(tmp_path / "y"), f"{tmp_path}/x,{tmp_path}/x_again", *out])
