"""recipes/learning_curve.py and custom_modules/studies/learning_curve.py: nested speaker subsets,
their CSVs, the table/JSON/plot from (fake) eval results, argument errors, resuming, and one
end-to-end run on the tiny synthetic dataset (2 subsets, 1 epoch)."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys

import pytest
from conftest import ROOT, TINY_TRAIN

from custom_modules.data.dataio import read_speaker_csv, resolve_audio_path, write_speaker_csv
from custom_modules.studies.learning_curve import (
    LearningCurveError,
    check_speaker_counts,
    nested_subsets,
    parse_speaker_counts,
    speaker_order,
    subset_rows,
    write_subset_folder,
)
from custom_modules.studies.learning_curve_report import build_report, curve_markdown, curve_point, plot_learning_curve
from custom_modules.studies.train_overrides import parse_overrides


def load_recipe(name):
    """A recipe script as a module (under a private name, so nothing shadows custom_modules)."""
    spec = importlib.util.spec_from_file_location(f"_recipe_{name}", os.path.join(ROOT, "recipes", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


recipe = load_recipe("learning_curve")

SPEAKERS = [f"spk{i:02d}" for i in range(16)]


# ------------------------------------------------------------------ nested subsets
def test_subsets_are_nested_reproducible_and_differ_across_seeds():
    rows = [s for s in SPEAKERS for _ in range(3)]
    order = speaker_order(rows, seed=1986)
    assert sorted(order) == SPEAKERS  # a permutation: every speaker once
    assert order == speaker_order(list(reversed(rows)), seed=1986)  # reproducible, row order irrelevant
    subsets = nested_subsets(order, [4, 8, 12, 16])
    assert [len(s) for s in subsets.values()] == [4, 8, 12, 16]
    counts = sorted(subsets)
    for small, large in zip(counts, counts[1:]):
        assert set(subsets[small]) < set(subsets[large])  # truly nested
        assert subsets[large][:small] == subsets[small]
    orders = {tuple(speaker_order(rows, seed)) for seed in (1, 2, 3, 1986)}
    assert len(orders) == 4  # each seed draws its own order
    assert nested_subsets(speaker_order(rows, 1), [4])[4] != nested_subsets(speaker_order(rows, 2), [4])[4]


# ------------------------------------------------------------------ subset CSVs
def test_subset_csvs_hold_exactly_the_chosen_rows_with_resolvable_paths(tiny_dataset, tmp_path):
    train = read_speaker_csv(os.path.join(tiny_dataset, "train.csv"))
    # a prepared valid.csv with every path style: relative, $data_root and absolute
    valid = [
        {**train[0], "ID": "v/0", "wav": train[0]["wav"]},
        {**train[6], "ID": "v/1", "wav": "$data_root/" + train[6]["wav"]},
        {**train[12], "ID": "v/2", "wav": os.path.join(tiny_dataset, train[12]["wav"])},
    ]
    write_speaker_csv(os.path.join(tiny_dataset, "valid.csv"), valid)
    test = read_speaker_csv(os.path.join(tiny_dataset, "test.csv"))
    speakers = ["spk2", "spk0"]
    out = str(tmp_path / "exp" / "data_2spk")
    paths = write_subset_folder(
        out, speakers, tiny_dataset, train, read_speaker_csv(os.path.join(tiny_dataset, "valid.csv")), test
    )

    def check(written, source, keep):
        got = read_speaker_csv(written)
        expected = [r for r in source if r["spk_id"] in keep]
        assert [r["ID"] for r in got] == [r["ID"] for r in expected]  # exactly those rows, in order
        for new, old in zip(got, expected):
            assert {k: v for k, v in new.items() if k != "wav"} == {k: v for k, v in old.items() if k != "wav"}
            assert os.path.isabs(new["wav"])
            resolved = resolve_audio_path(new["wav"], out)  # as train.py / eval.py resolve it from the new folder
            assert os.path.isfile(resolved)
            assert os.path.samefile(resolved, resolve_audio_path(old["wav"], tiny_dataset))

    check(paths["train"], train, {"spk0", "spk2"})
    assert len(read_speaker_csv(paths["train"])) == 12
    check(paths["valid"], read_speaker_csv(os.path.join(tiny_dataset, "valid.csv")), {"spk0", "spk2"})
    assert [r["ID"] for r in read_speaker_csv(paths["valid"])] == ["v/0", "v/2"]
    check(paths["test"], test, {r["spk_id"] for r in test})  # the test CSV is copied whole
    # a valid.csv without any of the subset's speakers is an error, not a silently different protocol
    with pytest.raises(LearningCurveError, match="valid.csv has no utterance of the 1-speaker subset"):
        write_subset_folder(str(tmp_path / "x"), ["spk3"], tiny_dataset, train, valid)
    assert subset_rows(train, [], tiny_dataset) == []


# ------------------------------------------------------------------ table, JSON, plot from fake results
def fake_subset(folder, count, eer, interval=True, train_acc=0.5, epochs=2, utterances=None):
    """A trained-and-evaluated subset as train.py and eval.py leave it; returns results.json's path."""
    os.makedirs(os.path.join(folder, "eval", "trials"), exist_ok=True)
    with open(os.path.join(folder, "experiment.json"), "w") as handle:
        json.dump(
            {"train_utterances": utterances or 10 * count, "valid_utterances": count, "num_classes": count}, handle
        )
    with open(os.path.join(folder, "metrics.jsonl"), "w") as handle:
        for epoch in range(1, epochs + 1):
            acc = train_acc * epoch / epochs
            handle.write(json.dumps({"epoch": epoch, "train": {"acc": acc}, "valid": {"acc": acc / 2}}) + "\n")
    system = {
        "eer": eer,
        "eer_threshold": 0.5,
        "min_dcf": [{"p_target": 0.01, "min_dcf": 0.99}, {"p_target": 0.05, "min_dcf": 0.9}],
        "interval": None,
    }
    if interval:
        system["interval"] = {
            "eer": {"value": eer, "low": eer - 0.05, "high": eer + 0.1},
            "min_dcf": [{"p_target": 0.01, "low": 0.8, "high": 1.0}, {"p_target": 0.05, "low": 0.7, "high": 0.95}],
        }
    results = {
        "trials": "/data/trials.txt",
        "n_target": 30,
        "n_nontarget": 40,
        "p_targets": [0.01, 0.05],
        "systems": {"none": system},
    }
    path = os.path.join(folder, "eval", "trials", "results.json")
    with open(path, "w") as handle:
        json.dump(results, handle)
    return path


CONFIG = {
    "hparams_file": "/h/res2net_am_demo.yaml",
    "data_folder": "/data",
    "seed": 7,
    "speaker_order": ["b", "d", "a", "c"],
    "train_args": ["--number_of_epochs=2"],
    "score_norm": "none",
}


def test_table_and_json_from_fake_eval_results_are_exact(tmp_path):
    points = []
    for count, eer, interval in ((2, 0.4, True), (4, 0.25, False)):
        folder = str(tmp_path / f"{count}spk" / "7")
        path = fake_subset(folder, count, eer, interval=interval, train_acc=0.875)
        points.append(curve_point(count, CONFIG["speaker_order"][:count], folder, path))
    assert points[0] == {
        "speakers": 2,
        "speaker_ids": ["b", "d"],
        "train_utterances": 20,
        "valid_utterances": 2,
        "epochs": 2,
        "train_acc": 0.875,
        "valid_acc": 0.4375,
        "eer": 0.4,
        "eer_interval_95": [0.4 - 0.05, 0.4 + 0.1],
        "min_dcf": {"0.01": 0.99, "0.05": 0.9},
        "min_dcf_interval_95": {"0.01": [0.8, 1.0], "0.05": [0.7, 0.95]},
        "trials": "/data/trials.txt",
        "n_target": 30,
        "n_nontarget": 40,
        "experiment": str(tmp_path / "2spk" / "7"),
        "results": str(tmp_path / "2spk" / "7" / "eval" / "trials" / "results.json"),
    }
    assert points[1]["eer_interval_95"] is None and points[1]["min_dcf_interval_95"] is None
    report = build_report("curve", CONFIG, points, "2024-05-01T10:00:00", "abc1234")
    assert json.loads(json.dumps(report)) == report  # JSON-serialisable as is
    assert report["speaker_counts"] == [2, 4] and report["configuration"] == CONFIG
    assert (report["trials"], report["n_target"], report["n_nontarget"], report["score_norm"]) == (
        "/data/trials.txt",
        30,
        40,
        "none",
    )
    lines = curve_markdown(report).splitlines()
    assert lines[0] == "# Learning curve: curve"
    assert lines[4] == (
        "| training speakers | training utterances | epochs | final train acc | EER | EER 95% interval | "
        "minDCF p=0.01 | minDCF p=0.05 |"
    )
    assert lines[5] == "|---|---|---|---|---|---|---|---|"
    assert (
        lines[6] == "| 2 | 20 | 2 | 87.50% | 40.00% | 35.00% - 50.00% | 0.9900 [0.800, 1.000] | 0.9000 [0.700, 0.950] |"
    )
    assert lines[7] == "| 4 | 40 | 2 | 87.50% | 25.00% | - | 0.9900 | 0.9000 |"
    assert lines[9] == (
        "Speaker order (drawn from seed 7; the first k speakers form the k-speaker subset): b, d, a, c."
    )
    assert "`/h/res2net_am_demo.yaml` trained on nested subsets of the 4 training speakers of `/data`" in lines[2]
    assert "overrides: `--number_of_epochs=2`" in lines[2] and "(30 target, 40 non-target trials)" in lines[2]
    assert lines[-3:] == ["Date 2024-05-01T10:00:00, commit abc1234.", "", "![learning curve](learning_curve.png)"]
    # points evaluated on different trial lists cannot share a curve
    with pytest.raises(LearningCurveError, match="different trial lists"):
        build_report("curve", CONFIG, [points[0], {**points[1], "trials": "/other.txt"}], "d", "c")


def test_png_is_written(tmp_path):
    import matplotlib.image

    points = [
        {"speakers": 2, "eer": 0.4, "eer_interval_95": [0.3, 0.5]},
        {"speakers": 4, "eer": 0.3, "eer_interval_95": [0.25, 0.35]},
        {"speakers": 8, "eer": 0.2, "eer_interval_95": None},
    ]
    path = plot_learning_curve(points, str(tmp_path / "learning_curve.png"), title="t")
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    height, width = matplotlib.image.imread(path).shape[:2]
    assert (width, height) == (660, 480)  # 5.5 x 4 inches at 120 dpi


# ------------------------------------------------------------------ argument errors
@pytest.mark.parametrize(
    "counts, message",
    [
        (
            [4, 20],
            "20 is more than the 16 training speakers of train.csv; the largest count can be 16 (e.g. --speakers 4,16)",
        ),
        ([8, 4], "4 after 8; counts must increase strictly"),
        ([4, 4], "4 after 4; counts must increase strictly"),
        ([1, 4], "1 is below 2, the fewest training speakers recipes/train.py accepts"),
        ([], "--speakers is empty"),
    ],
)
def test_bad_speaker_counts_name_the_value_and_the_fix(counts, message):
    with pytest.raises(LearningCurveError) as error:
        check_speaker_counts(counts, available=16)
    assert message in str(error.value)
    assert check_speaker_counts([2, 16], available=16) == [2, 16]


def test_parse_errors():
    with pytest.raises(LearningCurveError, match="'four' is not an integer.*--speakers 4,8,12,16"):
        parse_speaker_counts("four,8")
    with pytest.raises(LearningCurveError, match="unexpected argument 'stray'"):
        parse_overrides(["stray"])
    assert parse_overrides(["--lr", "0.1", "--debug"]) == {"lr": "0.1", "debug": None}


def recipe_args(data, tmp_path, *extra, name="curve"):
    return [
        "hparams/res2net_am_demo.yaml",
        "--data_folder",
        data,
        "--name",
        name,
        "--exp_root",
        str(tmp_path / "exp"),
        "--output_root",
        str(tmp_path / "results"),
        *extra,
    ]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--speakers", "2,5"], "5 is more than the 4 training speakers"),
        (["--speakers", "3,2"], "2 after 3; counts must increase strictly"),
        (["--speakers", "1,2"], "1 is below 2"),
        (["--speakers", "2,x"], "'x' is not an integer"),
        (["--speakers", "2", "--output_folder=elsewhere"], "--output_folder is set by the learning curve"),
        (["--speakers", "2", "--debug"], "--debug keeps no checkpoint"),
        (
            ["--speakers", "2", "--valid_speakers=2"],
            "valid_speakers=2: train.py would set 2 speakers of every subset apart",
        ),
        (["--speakers", "2", "--trials", "/no/such/trials.txt"], "/no/such/trials.txt not found"),
    ],
)
def test_recipe_refuses_bad_arguments_before_writing_anything(tiny_dataset, tmp_path, extra, message):
    with pytest.raises(SystemExit) as error:
        recipe.main(recipe_args(tiny_dataset, tmp_path, *extra))
    assert message in str(error.value)
    assert not (tmp_path / "exp").exists() and not (tmp_path / "results").exists()


def test_finished_subsets_are_reused_and_another_configuration_is_refused(tiny_dataset, tmp_path, monkeypatch):
    """Subsets whose results.json exists are not retrained (no subprocess at all); the same
    --name with another seed is refused before anything is written."""
    calls = []

    def fake_train(argv, what):  # stands in for training
        calls.append(what)

    def fake_evaluate(overrides, what):  # stands in for the evaluation: "writes" its results.json
        calls.append(what)
        fake_subset(overrides["experiment"], int(what.split()[2].split("-")[0]), 0.25)

    monkeypatch.setattr(recipe, "train_step", fake_train)
    monkeypatch.setattr(recipe, "evaluate_step", fake_evaluate)
    order = speaker_order([r["spk_id"] for r in read_speaker_csv(os.path.join(tiny_dataset, "train.csv"))], 1986)
    for count, eer in ((2, 0.3), (4, 0.2)):
        fake_subset(str(tmp_path / "exp" / "curve" / f"{count}spk" / "1986"), count, eer)
    recipe.main(recipe_args(tiny_dataset, tmp_path, "--speakers", "2,4", "--number_of_epochs=2"))
    assert calls == []  # both subsets were finished: nothing trained or evaluated
    report = json.load(open(tmp_path / "results" / "curve" / "learning_curve.json"))
    assert [p["eer"] for p in report["points"]] == [0.3, 0.2]
    assert report["configuration"]["speaker_order"] == order and report["configuration"]["seed"] == 1986
    assert report["configuration"]["train_args"] == ["--number_of_epochs=2"]
    assert [p["speaker_ids"] for p in report["points"]] == [order[:2], order]
    for name in ("learning_curve.md", "learning_curve.png"):
        assert (tmp_path / "results" / "curve" / name).is_file()
    data_2 = read_speaker_csv(str(tmp_path / "exp" / "curve" / "data_2spk" / "train.csv"))
    assert {r["spk_id"] for r in data_2} == set(order[:2])
    # another seed under the same name: refused, with the difference named
    before = open(tmp_path / "results" / "curve" / "learning_curve.md").read()
    with pytest.raises(SystemExit) as error:
        recipe.main(recipe_args(tiny_dataset, tmp_path, "--speakers", "2,4", "--number_of_epochs=2", "--seed=5"))
    assert "another configuration" in str(error.value) and "seed: 1986 -> 5" in str(error.value)
    assert "Choose another --name" in str(error.value)
    assert open(tmp_path / "results" / "curve" / "learning_curve.md").read() == before
    # a results folder holding a learning_curve.md this command did not write is not overwritten
    os.makedirs(tmp_path / "results" / "mine")
    (tmp_path / "results" / "mine" / "learning_curve.md").write_text("my notes")
    with pytest.raises(SystemExit, match="no learning_curve.json"):
        recipe.main(recipe_args(tiny_dataset, tmp_path, "--speakers", "2", name="mine"))
    assert (tmp_path / "results" / "mine" / "learning_curve.md").read_text() == "my notes"
    # the same configuration with a count added extends the curve: only the new subset runs
    recipe.main(recipe_args(tiny_dataset, tmp_path, "--speakers", "2,3,4", "--number_of_epochs=2", "--noprogressbar"))
    assert calls == ["training the 3-speaker subset", "evaluating the 3-speaker subset"]
    report = json.load(open(tmp_path / "results" / "curve" / "learning_curve.json"))
    assert [(p["speakers"], p["eer"]) for p in report["points"]] == [(2, 0.3), (3, 0.25), (4, 0.2)]


# ------------------------------------------------------------------ end to end
def test_failed_step_stops_with_how_to_resume(tmp_path):
    with pytest.raises(SystemExit) as error:
        recipe.train_step(
            ["hparams/res2net_am_demo.yaml", f"--data_folder={tmp_path}/nowhere"], "training the 2-speaker subset"
        )
    assert f"{tmp_path}/nowhere/train.csv: CSV not found" in str(error.value)
    assert "training the 2-speaker subset failed" in str(error.value)
    assert "run the same command again: finished subsets are kept" in str(error.value)


def test_command_line_reports_errors(tiny_dataset, tmp_path):
    run = subprocess.run(
        [sys.executable, "recipes/learning_curve.py", *recipe_args(tiny_dataset, tmp_path, "--speakers", "2,9")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 1 and "9 is more than the 4 training speakers" in run.stderr


@pytest.fixture
def restore_logging():
    """SpeechBrain's experiment set-up adds handlers to the root logger; later tests get the
    logging they had."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_end_to_end_two_subsets_one_epoch_then_resume(tiny_dataset, tmp_path, monkeypatch, capsys, restore_logging):
    """2 and 4 speakers of the tiny dataset, 1 epoch each, trained and evaluated for real (in
    this process, the library functions behind train.py and eval.py); the same command again
    trains nothing."""
    args = recipe_args(tiny_dataset, tmp_path, "--speakers", "2,4", *TINY_TRAIN, "--valid_max_seconds=0.5")
    recipe.main(args)
    report = json.load(open(tmp_path / "results" / "curve" / "learning_curve.json"))
    assert report["speaker_counts"] == [2, 4] and report["n_target"] + report["n_nontarget"] == 28
    order = report["configuration"]["speaker_order"]
    for point in report["points"]:
        k = point["speakers"]
        assert point["speaker_ids"] == order[:k]
        experiment = tmp_path / "exp" / "curve" / f"{k}spk" / "1986"
        record = json.load(open(experiment / "experiment.json"))
        assert record["num_classes"] == k and record["data_folder"] == str(tmp_path / "exp" / "curve" / f"data_{k}spk")
        assert point["train_utterances"] == record["train_utterances"] == 5 * k  # 6 per speaker, 1 held out
        assert point["epochs"] == 1 and 0.0 <= point["train_acc"] <= 1.0 and 0.0 <= point["eer"] <= 1.0
        assert point["eer_interval_95"] is not None
        with open(experiment / "train_split.csv") as handle:
            assert {line.split(",")[-1] for line in handle.read().split()[1:]} == set(order[:k])
    assert (tmp_path / "results" / "curve" / "learning_curve.png").stat().st_size > 0
    assert "| 2 | 10 | 1 |" in (tmp_path / "results" / "curve" / "learning_curve.md").read_text()
    capsys.readouterr()

    # the same command again: nothing is trained or evaluated, the report is the same
    def no_run(argv, what):
        raise AssertionError(f"{what} ran again")

    monkeypatch.setattr(recipe, "train_step", no_run)
    monkeypatch.setattr(recipe, "evaluate_step", no_run)
    recipe.main(args)
    assert capsys.readouterr().out.count("not retrained") == 2
    assert json.load(open(tmp_path / "results" / "curve" / "learning_curve.json"))["points"] == report["points"]


def test_hparams_settings_are_read_as_yaml_not_as_text():
    """seed and valid_speakers were read with a regular expression: a quoted value came back
    with its quotes and a !ref as the text '!ref'."""
    from custom_modules.studies.train_overrides import hparams_seed, hparams_setting

    text = 'base: 5\nseed: "1987"  # quoted\nvalid_speakers: !ref <base>\nnested:\n    lr: 0.1\n'
    assert hparams_setting(text, {}, "seed") == "1987"
    assert hparams_seed(text, {}) == 1987
    assert hparams_setting(text, {}, "valid_speakers") is None  # not a plain value
    assert hparams_setting(text, {}, "lr") is None  # not top-level
    assert hparams_setting(text, {"seed": "3"}, "seed") == "3"
