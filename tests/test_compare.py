"""recipes/compare.py on tiny experiments: same trials, one table, seeds summarised."""

import json
import os
import subprocess
import sys

import pytest
from conftest import evaluation_folder

from custom_modules.scoring.bootstrap import speaker_bootstrap_trials
from custom_modules.scoring.metrics import equal_error_rate
from custom_modules.scoring.trials import read_scores

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON = [
    "--embedding_dim=16",
    "--n_features=40",
    "--batch_size=4",
    "--crop_seconds=0.3",
    "--num_workers=0",
    "--noprogressbar",
    "--number_of_epochs=1",
]


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_compare_two_systems_and_two_seeds(tiny_dataset, tmp_path):
    folders = []
    for hparams, extra, seed in [
        ("hparams/res2net_am_demo.yaml", ["--m_channels=4"], 1),
        ("hparams/res2net_am_demo.yaml", ["--m_channels=4"], 2),
        ("hparams/ecapa_aam_demo.yaml", ["--ecapa_channels=[16,16,16,16,48]"], 1),
    ]:
        name = os.path.basename(hparams)[:-5]
        out = str(tmp_path / "exp" / name / str(seed))
        result = run(
            "recipes/train.py",
            hparams,
            f"--data_folder={tiny_dataset}",
            f"--output_folder={out}",
            f"--seed={seed}",
            *COMMON,
            *extra,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        folders.append(out)
    result = run(
        "recipes/compare.py",
        *folders,
        "--name",
        "tiny",
        "--output_root",
        str(tmp_path / "results"),
        "--resamples",
        "200",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "results" / "tiny"
    report = json.loads((out / "comparison.json").read_text())
    assert [r["system"] for r in report["systems"]] == [
        "res2net_am_demo/1",
        "res2net_am_demo/2",
        "ecapa_aam_demo/1",
        "floor",
    ]
    floor = report["systems"][3]
    floor_results = json.loads(open(os.path.join(evaluation_folder(folders[0]), "results.json")).read())["floor"]
    trials, scores = read_scores(os.path.join(evaluation_folder(folders[0]), floor_results["scores_file"]))
    labels = [t.label for t in trials]
    floor_eer = equal_error_rate(
        [s for s, lab in zip(scores, labels) if lab], [s for s, lab in zip(scores, labels) if not lab]
    ).eer
    assert floor["eer"] == pytest.approx(floor_eer, abs=1e-9) and floor["eer"] == pytest.approx(
        floor_results["eer"], abs=1e-9
    )
    assert floor["parameters"] == 0 and floor["training"]["epochs"] is None
    worse = [r["system"] for r in report["systems"][:3] if r["eer"] > floor["eer"]]
    assert [w.split(":")[0] for w in report["floor_warnings"]] == [f"WARN {name}" for name in worse]
    for row, folder in zip(report["systems"], folders):
        trials, scores = read_scores(os.path.join(evaluation_folder(folder), "scores_none.txt"))
        labels = [t.label for t in trials]
        eer = equal_error_rate(
            [s for s, lab in zip(scores, labels) if lab], [s for s, lab in zip(scores, labels) if not lab]
        ).eer
        assert row["eer"] == pytest.approx(eer, abs=1e-6)
        boot = speaker_bootstrap_trials(trials, scores, resamples=200, seed=0)
        assert row["eer_interval_95"] == [boot["eer"]["low"], boot["eer"]["high"]]
        assert row["n_speakers"] == 2 and row["bootstrap_warning"]  # 2 test speakers: one pair, a warning
        assert row["training"]["epochs"] == 1 and row["training"]["seconds_per_epoch"] > 0
        assert row["embedding_audio_seconds_per_second"] > 0
        evaluated = json.loads(open(os.path.join(evaluation_folder(folder), "results.json")).read())["checkpoint"]
        assert row["checkpoint"] == os.path.basename(evaluated)
        assert (out / row["hparams_copy"]).read_text() == open(os.path.join(folder, "hyperparams.yaml")).read()
        stem = row["system"].replace("/", "_")
        assert (out / "logs" / f"{stem}.metrics.jsonl").read_text() == open(
            os.path.join(folder, "metrics.jsonl")
        ).read()
        summary = open(os.path.join(evaluation_folder(folder), "summary.md")).read()
        assert (out / "logs" / f"{stem}.eval_summary.md").read_text() == summary
    assert report["systems"][2]["parameters"] != report["systems"][0]["parameters"]
    diffs = report["paired_differences"]
    assert [d["system"] for d in diffs] == ["res2net_am_demo/2", "ecapa_aam_demo/1", "floor"]
    for d, row in zip(diffs, report["systems"][1:]):
        assert d["reference"] == "res2net_am_demo/1"
        assert d["eer_difference"] == pytest.approx(row["eer"] - report["systems"][0]["eer"], abs=1e-12)
        assert d["significant"] == (not d["interval_95"][0] <= 0 <= d["interval_95"][1])
    seeds = report["across_seeds"]
    assert len(seeds) == 1 and seeds[0]["name"] == "res2net_am_demo" and seeds[0]["seeds"] == 2
    assert seeds[0]["eer_min"] <= seeds[0]["eer_mean"] <= seeds[0]["eer_max"]
    averaged = report["seed_averaged_differences"]
    assert [a["system"] for a in averaged] == ["ecapa_aam_demo", "floor"]
    a = averaged[0]
    rows = report["systems"]
    assert (a["system"], a["seeds"], a["reference"], a["reference_seeds"]) == (
        "ecapa_aam_demo",
        1,
        "res2net_am_demo",
        2,
    )
    assert a["eer_mean"] == pytest.approx(rows[2]["eer"], abs=1e-12)
    assert a["reference_eer_mean"] == pytest.approx((rows[0]["eer"] + rows[1]["eer"]) / 2, abs=1e-12)
    assert a["eer_difference"] == pytest.approx(a["eer_mean"] - a["reference_eer_mean"], abs=1e-12)
    assert a["significant"] == (not a["interval_95"][0] <= 0 <= a["interval_95"][1])
    assert (out / "det.png").stat().st_size > 1000
    text = (out / "comparison.md").read_text()
    assert "res2net_am_demo/1" in text and "ecapa_aam_demo/1" in text and "Across seeds" in text
    assert "| floor |" in text and "without learning anything about voices" in text
    assert "Seed-averaged EER against res2net_am_demo" in text


def test_the_table_has_a_column_per_prior_the_evaluations_measured():
    """compare.py used to hard-code p_target 0.01 and 0.05 (other eval.yaml priors raised
    KeyError); its columns now come from the evaluations."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_compare", os.path.join(ROOT, "recipes", "compare.py"))
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    row = {
        "system": "s/1",
        "name": "s",
        "eer": 0.1,
        "eer_interval_95": (0.05, 0.2),
        "min_dcf": {"0.001": 0.9, "0.1": 0.5},
        "min_dcf_interval_95": {"0.001": (0.8, 1.0), "0.1": (0.4, 0.6)},
        "parameters": 1e6,
        "macs_per_second": None,
        "embedding_audio_seconds_per_second": None,
        "training": {"epochs": 2, "seconds_per_epoch": None},
    }
    report = {
        "name": "x",
        "trials": "t.txt",
        "n_target": 1,
        "n_nontarget": 1,
        "score_norm": "none",
        "systems": [row],
        "paired_differences": [],
        "across_seeds": [],
        "hardware": "h",
        "date": "d",
        "commit": "c",
    }
    lines = compare.markdown(report).splitlines()
    header = next(line for line in lines if line.startswith("| system |"))
    assert "minDCF p=0.001 [95%] | minDCF p=0.1 [95%]" in header and "0.01" not in header
    assert any(
        line.startswith("| s/1 | 10.00% | 5.00% - 20.00% | 0.9000 [0.800, 1.000] | 0.5000 [0.400, 0.600] | 1.00 M |")
        for line in lines
    )
