"""recipes/eval.py end to end: a tiny trained experiment scored on its trial list."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import evaluation_folder
from hyperpyyaml import load_hyperpyyaml

from custom_modules import evaluation
from custom_modules.models.floor import build_floor_folder
from custom_modules.scoring.metrics import equal_error_rate, min_detection_cost
from custom_modules.scoring.trials import parse_trials

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def load_recipe(name):
    spec = importlib.util.spec_from_file_location(f"{name}_recipe", os.path.join(ROOT, "recipes", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture
def trained(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    result = run(
        "recipes/train.py",
        "hparams/res2net_am_demo.yaml",
        f"--data_folder={tiny_dataset}",
        f"--output_folder={out}",
        *TINY,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_eval_writes_scores_results_and_plots_consistent_with_metrics(trained, tiny_dataset):
    result = run(
        "recipes/eval.py",
        "hparams/eval.yaml",
        f"--experiment={trained}",
        "--score_norm=none,z,t,s,as",
        "--top_k=5",
        "--batch_size=3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = evaluation_folder(trained)
    for name in (
        "results.json",
        "summary.md",
        "det.png",
        "score_hist.png",
        "embeddings.npz",
        "scores_none.txt",
        "scores_as.txt",
    ):
        assert os.path.isfile(os.path.join(out, name)), name
    with open(os.path.join(out, "results.json")) as handle:
        results = json.load(handle)
    trials = parse_trials(os.path.join(tiny_dataset, "trials.txt"))
    assert results["n_target"] + results["n_nontarget"] == len(trials) == 28
    assert results["n_target"] == 12
    assert set(results["systems"]) == {"none", "z", "t", "s", "as"}
    assert results["cohort"] == {"kind": "utterances", "size": 20, "top_k": 5}
    embedded = np.load(os.path.join(out, "embeddings.npz"))
    assert len(embedded["ids"]) == 8 and embedded["embeddings"].shape == (8, 16)  # once per utterance
    for norm in ("none", "as"):
        lines = open(os.path.join(out, f"scores_{norm}.txt")).read().split("\n")
        rows = [line.split() for line in lines if line]
        scores = np.array([float(r[3]) for r in rows])
        labels = np.array([int(r[2]) for r in rows])
        assert len(rows) == 28
        eer = equal_error_rate(scores[labels == 1], scores[labels == 0]).eer
        dcf = min_detection_cost(scores[labels == 1], scores[labels == 0], p_target=0.01).min_dcf
        assert results["systems"][norm]["eer"] == pytest.approx(eer, abs=1e-5)
        assert results["systems"][norm]["min_dcf"][0]["min_dcf"] == pytest.approx(dcf, abs=1e-4)
    # raw cosine scores recomputed from the saved embeddings
    emb = embedded["embeddings"] / np.linalg.norm(embedded["embeddings"], axis=1, keepdims=True)
    where = {u: i for i, u in enumerate(embedded["ids"])}
    rows = [line.split() for line in open(os.path.join(out, "scores_none.txt")) if line.strip()]
    for enrol, test, _, score in rows[:5]:
        assert float(score) == pytest.approx(float(emb[where[enrol]] @ emb[where[test]]), abs=1e-5)
    summary = open(os.path.join(out, "summary.md")).read()
    assert "p_target=0.01" in summary and "p_target=0.05" in summary and "C_miss=C_fa=1" in summary


def test_eval_errors_name_the_problem(trained, tiny_dataset, tmp_path):
    bad = tmp_path / "bad_trials.txt"
    bad.write_text("1 tspk0/u0.wav nobody/x.wav\n0 tspk0/u1.wav ghost/y.wav\n")
    result = run("recipes/eval.py", "hparams/eval.yaml", f"--experiment={trained}", f"--trials={bad}")
    assert result.returncode != 0
    assert "nobody/x" in result.stderr and "2" in result.stderr
    result = run("recipes/eval.py", "hparams/eval.yaml", f"--experiment={tmp_path}")
    assert result.returncode != 0 and "not a training output folder" in result.stderr
    result = run("recipes/eval.py", "hparams/eval.yaml", f"--experiment={trained}", "--score_norm=zt")
    assert result.returncode != 0 and "score_norm 'zt'" in result.stderr


def test_eval_refuses_unscoreable_trial_lists_before_writing_anything(tiny_experiment, tmp_path):
    """Empty, one-class and UTF-16 trial lists: one line naming the file, no traceback, and
    no output folder (nothing is embedded first)."""
    data, experiment = tiny_experiment
    lines = [line for line in open(os.path.join(data, "trials.txt")) if line.strip()]
    cases = {
        "empty.txt": ("# nothing here\n\n".encode(), "no trials"),
        "targets_only.txt": (
            "".join(line for line in lines if line.startswith("1")).encode(),
            "target and 0 non-target trials; an EER needs both",
        ),
        "nontargets_only.txt": ("".join(line for line in lines if line.startswith("0")).encode(), "0 target and"),
        "utf16.txt": ("".join(lines).encode("utf-16"), "not UTF-8 text (a UTF-16 file?)"),
    }
    scores = open(os.path.join(evaluation_folder(experiment), "scores_none.txt")).read().splitlines()
    calibration_cases = {
        "cal_utf16.txt": ("\n".join(scores).encode("utf-16"), "--calibrate_on: "),
        "cal_targets_only.txt": (
            "\n".join(line for line in scores if line.split()[2] == "1").encode(),
            "--calibrate_on: ",
        ),
        "cal_bad_line.txt": (b"a b 1\n", "--calibrate_on: "),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        out = tmp_path / ("eval_" + name)
        result = run(
            "recipes/eval.py",
            "hparams/eval.yaml",
            f"--experiment={experiment}",
            f"--trials={path}",
            f"--output_folder={out}",
        )
        assert result.returncode != 0 and message in result.stderr and str(path) in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not out.exists()
    trials_file = os.path.join(data, "trials.txt")
    for name, (content, message) in calibration_cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        out = tmp_path / ("eval_" + name)
        result = run(
            "recipes/eval.py",
            "hparams/eval.yaml",
            f"--experiment={experiment}",
            f"--trials={trials_file}",
            f"--calibrate_on={path}",
            f"--output_folder={out}",
        )
        assert result.returncode != 0 and message + str(path) in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not out.exists()


def test_eval_intervals_and_calibration(tiny_experiment, tmp_path):
    from custom_modules.scoring.calibration import actual_dcf, cllr, fit_linear_calibration, min_cllr
    from custom_modules.scoring.trials import read_scores

    data, experiment = tiny_experiment
    calibrate_on = os.path.join(evaluation_folder(experiment), "scores_none.txt")
    out = str(tmp_path / "eval")
    result = run(
        "recipes/eval.py",
        "hparams/eval.yaml",
        f"--experiment={experiment}",
        f"--calibrate_on={calibrate_on}",
        f"--output_folder={out}",
        "--bootstrap_resamples=100",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.load(open(os.path.join(out, "results.json")))
    interval = results["systems"]["none"]["interval"]
    assert interval["n_speakers"] == 2 and interval["resamples"] == 100
    assert "left out of the interval" in interval["warning"]  # 2 test speakers: many resamples lack a side
    trials, scores = read_scores(calibrate_on)
    labels = np.array([t.label for t in trials])
    model = fit_linear_calibration(scores[labels == 1], scores[labels == 0], p_target=0.01)
    llr = model.apply(scores)
    cal = results["calibration"]
    assert cal["a"] == pytest.approx(model.a) and cal["b"] == pytest.approx(model.b)
    # eval applies the calibration to its full-precision scores; the file holds 6 decimals
    assert cal["cllr"] == pytest.approx(cllr(llr[labels == 1], llr[labels == 0]), abs=1e-3)
    assert cal["min_cllr"] == pytest.approx(min_cllr(scores[labels == 1], scores[labels == 0]), abs=1e-3)
    assert cal["min_cllr"] <= cal["cllr"] + 1e-9
    assert cal["act_dcf"]["0.01"] == pytest.approx(
        actual_dcf(llr[labels == 1], llr[labels == 0], p_target=0.01), abs=1e-3
    )
    assert json.load(open(os.path.join(out, "calibration.json")))["a"] == cal["a"]
    summary = open(os.path.join(out, "summary.md")).read()
    assert "Cllr" in summary and "bootstrap over the 2 speakers" in summary


def test_eval_stores_the_speaker_overfitting_verdict_against_the_floor(tiny_experiment):
    """Fast: only reads the evaluation that the shared tiny_experiment fixture already ran."""
    from custom_modules.diagnostics.overfitting import check_speaker_overfitting
    from custom_modules.diagnostics.verdicts import format_verdict

    data, experiment = tiny_experiment
    out = evaluation_folder(experiment)
    results = json.load(open(os.path.join(out, "results.json")))
    section, floor = results["speaker_overfitting"], results["floor"]
    assert section["note"] is None and section["verdict"]["name"] == "speaker overfitting"
    assert section["verdict"]["status"] in ("PASS", "WARN")
    # the figures it was given: raw cosine EER, final epoch of metrics.jsonl, speakers of the training split
    assert section["eer"] == pytest.approx(results["systems"]["none"]["eer"], abs=1e-9)
    final = [json.loads(line) for line in open(os.path.join(experiment, "metrics.jsonl")) if line.strip()][-1]
    assert (section["epoch"], section["train_accuracy"], section["valid_accuracy"]) == (
        final["epoch"],
        final["train"]["acc"],
        final["valid"]["acc"],
    )
    assert section["num_speakers"] == 4 and section["floor_eer"] == floor["eer"]
    expected = check_speaker_overfitting(
        section["train_accuracy"], section["valid_accuracy"], section["eer"], floor["eer"], 4, epoch=section["epoch"]
    )
    assert section["verdict"] == expected._asdict()
    assert format_verdict(expected) in open(os.path.join(out, "summary.md")).read()
    # the floor: recipes/floor.py's default (20 MFCCs, the data folder's train.csv), on the same 28 trials
    assert floor["n_mfcc"] == 20 and floor["train_utterances"] == 24
    assert floor["train_csv"] == os.path.abspath(os.path.join(data, "train.csv")) and floor["seconds"] < 60


def test_eval_flags_a_system_worse_than_the_floor_and_keeps_the_floor_scores(tiny_experiment):
    """Fast: reads the evaluation of the shared tiny_experiment fixture. The floor's trial
    scores are written beside the model's; the verdict is the one check_against_floor gives."""
    from custom_modules.diagnostics.floor_check import check_against_floor
    from custom_modules.diagnostics.verdicts import format_verdict
    from custom_modules.scoring.trials import read_scores

    data, experiment = tiny_experiment
    out = evaluation_folder(experiment)
    results = json.load(open(os.path.join(out, "results.json")))
    floor, section = results["floor"], results["floor_comparison"]
    trials, scores = read_scores(os.path.join(out, floor["scores_file"]))
    labels = np.array([t.label for t in trials])
    assert len(trials) == results["n_target"] + results["n_nontarget"]
    assert equal_error_rate(scores[labels == 1], scores[labels == 0]).eer == pytest.approx(floor["eer"], abs=1e-12)
    assert section["eer"] == pytest.approx(results["systems"]["none"]["eer"], abs=1e-12)
    epochs = len([line for line in open(os.path.join(experiment, "metrics.jsonl")) if line.strip()])
    assert (section["epochs"], section["recipe"], section["augmented"]) == (epochs, "res2net_am_demo", False)
    expected = check_against_floor(
        section["eer"], floor["eer"], epochs=epochs, recipe="res2net_am_demo", augmented=False
    )
    assert section["verdict"] == expected._asdict()
    assert expected.status == ("WARN" if section["eer"] > floor["eer"] else "PASS")
    assert format_verdict(expected) in open(os.path.join(out, "summary.md")).read()


def test_eval_floor_matches_the_floor_recipe_and_skips_the_check_on_itself(tiny_experiment, tmp_path):
    """The floor EER stored with the model's evaluation is the one recipes/floor.py + eval.py
    give on the same trials; the floor folder itself gets a note, no verdict (about 10 s,
    most of it eval.py's plots)."""
    data, experiment = tiny_experiment
    floor = json.load(open(os.path.join(evaluation_folder(experiment), "results.json")))["floor"]
    # in-process (no interpreter start-ups): build the floor folder and evaluate it on the same trials
    built, evaluated = str(tmp_path / "floor"), str(tmp_path / "floor_eval")
    build_floor_folder(data, built)
    with open(os.path.join(ROOT, "hparams", "eval.yaml")) as handle:
        hparams = load_hyperpyyaml(
            handle, {"experiment": built, "data_folder": data, "output_folder": evaluated, "bootstrap_resamples": 0}
        )
    floor_results = evaluation.evaluate(hparams, "cpu")
    assert floor_results == json.load(open(os.path.join(evaluated, "results.json")))
    assert floor_results["systems"]["none"]["eer"] == pytest.approx(floor["eer"], abs=1e-6)
    assert floor_results["systems"]["none"]["eer_threshold"] == pytest.approx(floor["eer_threshold"], abs=1e-6)
    # the floor itself (a model folder without metrics.jsonl) is not checked: a note, no verdict, no floor run
    assert floor_results["floor"] is None and floor_results["speaker_overfitting"]["verdict"] is None
    assert floor_results["floor_comparison"]["verdict"] is None
    assert "floor system itself" in floor_results["floor_comparison"]["note"]
    assert "floor system itself" in floor_results["speaker_overfitting"]["note"]
    assert "Note: speaker overfitting check skipped" in open(os.path.join(evaluated, "summary.md")).read()


def test_bootstrap_speakers_come_from_the_test_csv_not_from_id_text(tiny_experiment, tmp_path):
    """Kaldi-style IDs (no '/'): the interval resamples the 2 speakers of the CSV's spk_id,
    not 8 one-utterance 'speakers' read from the ID text (about 10 s)."""
    data, experiment = tiny_experiment
    rows = open(os.path.join(data, "test.csv")).read().strip().splitlines()
    renamed = [rows[0]] + [line.replace("/", "-", 1) for line in rows[1:]]
    csv = tmp_path / "test_kaldi.csv"
    csv.write_text("\n".join(renamed) + "\n")
    trials = tmp_path / "trials_kaldi.txt"
    trials.write_text(
        "".join(
            f"{line.split()[0]} {line.split()[1].replace('/', '-')} {line.split()[2].replace('/', '-')}\n"
            for line in open(os.path.join(data, "trials.txt"))
            if line.strip()
        )
    )
    with open(os.path.join(ROOT, "hparams", "eval.yaml")) as handle:
        hparams = load_hyperpyyaml(
            handle,
            {
                "experiment": experiment,
                "data_folder": data,
                "trials": str(trials),
                "test_annotation": str(csv),
                "output_folder": str(tmp_path / "eval"),
                "bootstrap_resamples": 50,
            },
        )
    results = evaluation.evaluate(hparams, "cpu")
    assert "/" not in open(trials).read()
    assert results["systems"]["none"]["interval"]["n_speakers"] == 2
    assert results["test_annotation"] == str(csv)


def test_eval_flags_trials_built_from_training_utterances(tiny_experiment, tmp_path):
    data, experiment = tiny_experiment
    assert (
        json.load(open(os.path.join(evaluation_folder(experiment), "results.json")))["training_overlap"]["utterances"]
        == 0
    )  # the fixture's trials are of unseen speakers
    rows = open(os.path.join(data, "train.csv")).read().strip().splitlines()
    header, body = rows[0], rows[1:]
    picked = [body[0], body[1], body[6], body[7]]  # two utterances of each of two training speakers
    csv = tmp_path / "seen.csv"
    csv.write_text("\n".join([header] + picked) + "\n")
    ids = [line.split(",")[0] for line in picked]
    trials = tmp_path / "seen_trials.txt"
    trials.write_text(
        "".join(f"{int(a.split('/')[0] == b.split('/')[0])} {a} {b}\n" for i, a in enumerate(ids) for b in ids[i + 1 :])
    )
    with open(os.path.join(ROOT, "hparams", "eval.yaml")) as handle:
        hparams = load_hyperpyyaml(
            handle,
            {
                "experiment": experiment,
                "data_folder": data,
                "trials": str(trials),
                "test_annotation": str(csv),
                "output_folder": str(tmp_path / "eval"),
                "bootstrap_resamples": 0,
            },
        )
    results = evaluation.evaluate(hparams, "cpu")
    overlap = results["training_overlap"]
    train_split = [
        line.split(",")[0] for line in open(os.path.join(experiment, "train_split.csv")).read().splitlines()[1:]
    ]
    assert overlap["utterances"] == sum(i in train_split for i in ids) > 0 and overlap["of"] == 4
    assert "trials measure memory, not verification" in open(tmp_path / "eval" / "summary.md").read()
