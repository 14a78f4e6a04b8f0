"""Evaluation outputs are keyed by the trial list's content, written all at once, and never
mixed: recipes/eval.py and recipes/compare.py on copies of the shared tiny experiment."""

import glob
import hashlib
import json
import os
import shutil

import pytest
from conftest import ROOT, evaluation_folder
from hyperpyyaml import load_hyperpyyaml
from test_eval_recipe import load_recipe

from custom_modules import evaluation


def copied_experiment(tiny_experiment, tmp_path, name="1"):
    """A copy of the shared experiment (its evaluation included), free to be changed."""
    data, experiment = tiny_experiment
    copy = str(tmp_path / "exp" / "res2net_am_demo" / name)
    shutil.copytree(experiment, copy)
    return data, copy


def eval_hparams(experiment, **overrides):
    with open(os.path.join(ROOT, "hparams", "eval.yaml")) as handle:
        return load_hyperpyyaml(handle, {"experiment": experiment, "bootstrap_resamples": 20, **overrides})


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def some_trials(data, folder, lines):
    """A trial list named trials.txt (the same stem as the official one) with ``lines`` of it."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "trials.txt")
    kept = open(os.path.join(data, "trials.txt")).read().splitlines()[:lines]
    with open(path, "w") as handle:
        handle.write("\n".join(kept) + "\n")
    return path


def test_another_trial_list_of_the_same_name_gets_its_own_folder(tiny_experiment, tmp_path):
    data, experiment = copied_experiment(tiny_experiment, tmp_path)
    first = evaluation_folder(experiment)
    official = open(os.path.join(first, "results.json")).read()
    assert os.path.basename(first) == "trials-" + sha256(os.path.join(data, "trials.txt"))[:10]
    assert json.loads(official)["trials_sha256"] == sha256(os.path.join(data, "trials.txt"))
    other = some_trials(data, str(tmp_path / "other"), 12)
    results = evaluation.evaluate(eval_hparams(experiment, trials=other), "cpu")
    assert results["n_target"] + results["n_nontarget"] == 12
    folders = sorted(glob.glob(os.path.join(experiment, "eval", "*")))
    assert len(folders) == 2 and os.path.join(experiment, "eval", "trials-" + sha256(other)[:10]) in folders
    assert open(os.path.join(first, "results.json")).read() == official  # untouched
    assert json.load(open(os.path.join(experiment, "eval", "trials-" + sha256(other)[:10], "results.json")))[
        "trials_sha256"
    ] == sha256(other)


def test_a_failed_evaluation_leaves_the_previous_results_and_no_partial_file(tiny_experiment, tmp_path, monkeypatch):
    data, experiment = copied_experiment(tiny_experiment, tmp_path)
    out = evaluation_folder(experiment)

    def outputs():  # every file but the folder lock (.run.lock, rewritten by each run)
        return {
            name: open(os.path.join(out, name), "rb").read()
            for name in os.listdir(out)
            if os.path.isfile(os.path.join(out, name)) and name != ".run.lock"
        }

    before = outputs()
    recipe = evaluation

    def fail(*args, **kwargs):
        raise RuntimeError("killed while writing the plots")

    monkeypatch.setattr(recipe, "plot_det", fail)  # after scores and results.json were written
    with pytest.raises(RuntimeError, match="killed while writing"):
        recipe.evaluate(eval_hparams(experiment, score_norm="none,as"), "cpu")
    assert outputs() == before  # no scores_as.txt, no new results.json, nothing half-written
    assert [n for n in os.listdir(out) if n.startswith(".")] == [".run.lock"]  # no staging folder left
    # a successful rerun replaces the whole set: the AS-norm scores appear, the old files are the new ones
    monkeypatch.undo()
    evaluation.evaluate(eval_hparams(experiment, score_norm="none,as"), "cpu")
    assert os.path.isfile(os.path.join(out, "scores_as.txt"))
    assert set(json.load(open(os.path.join(out, "results.json")))["systems"]) == {"none", "as"}
    assert not glob.glob(os.path.join(out, ".partial-*"))


def test_compare_refuses_results_of_different_trial_lists(tiny_experiment, tmp_path):
    data, first = copied_experiment(tiny_experiment, tmp_path, "1")
    _, second = copied_experiment(tiny_experiment, tmp_path, "2")
    other_data = str(tmp_path / "other_data")
    shutil.copytree(data, other_data)
    some_trials(data, other_data, 20)  # the second run's data folder has another trials.txt
    record = os.path.join(second, "experiment.json")
    fields = json.load(open(record))
    fields["data_folder"] = other_data
    json.dump(fields, open(record, "w"))
    compare = load_recipe("compare")
    with pytest.raises(SystemExit) as stop:
        compare.main([first, second, "--output_root", str(tmp_path / "results"), "--no_floor", "--resamples", "20"])
    message = str(stop.value)
    assert "evaluated on different trial lists" in message and "pass --trials=<file>" in message
    assert sha256(os.path.join(other_data, "trials.txt"))[:10] in message
    assert not os.path.exists(tmp_path / "results" / "comparison" / "comparison.md")


def test_an_output_folder_that_cannot_be_made_is_one_line_naming_it(tiny_experiment, tmp_path):
    import subprocess
    import sys

    data, experiment = tiny_experiment
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder\n")
    out = str(blocker / "eval")
    run = subprocess.run(
        [
            sys.executable,
            "recipes/eval.py",
            "hparams/eval.yaml",
            f"--experiment={experiment}",
            f"--output_folder={out}",
            "--bootstrap_resamples=0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [
        f"error: cannot create the output folder {out}: Not a directory; choose a writable output location"
    ]


def test_outputs_on_folders_a_command_only_reads_are_refused(tiny_experiment, tmp_path):
    import subprocess
    import sys

    from custom_modules.outputs.atomic import OutputError

    data, experiment = tiny_experiment
    recipe = evaluation
    with pytest.raises(OutputError, match=f"--output_folder {data}/scores lies inside the data folder {data}"):
        recipe.evaluate(eval_hparams(experiment, output_folder=f"{data}/scores"), "cpu")
    with pytest.raises(OutputError, match=f"--output_folder {experiment} is the experiment"):
        recipe.evaluate(eval_hparams(experiment, output_folder=experiment), "cpu")
    parent = os.path.dirname(experiment)
    with pytest.raises(OutputError, match=f"--output_folder {parent} holds the experiment {experiment}"):
        recipe.evaluate(eval_hparams(experiment, output_folder=parent), "cpu")
    compare = load_recipe("compare")
    with pytest.raises(SystemExit, match=f"lies inside experiment 1 {experiment}"):
        compare.main([experiment, "--output_root", experiment, "--name", "table"])
    before = sorted(os.listdir(data))
    run = subprocess.run(
        [
            sys.executable,
            "recipes/train.py",
            "hparams/res2net_am_demo.yaml",
            f"--data_folder={data}",
            f"--output_folder={data}/run",
            "--debug",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: --output_folder {data}/run lies inside the data folder {data}, which this command only reads; "
        "choose an output elsewhere"
    )
    assert sorted(os.listdir(data)) == before  # nothing was created there


def test_the_trial_list_is_hashed_once_for_the_folder_name_and_the_results(tmp_path, monkeypatch):
    """eval hashed the trial file twice (the folder name, then results.json)."""
    import custom_modules.experiment as experiment_module

    data = tmp_path / "data"
    data.mkdir()
    (data / "trials.txt").write_text("1 a/1.wav a/2.wav\n0 a/1.wav b/1.wav\n")
    (data / "test.csv").write_text("ID,wav,spk_id\n")
    hashed = []
    real = experiment_module.file_sha256
    monkeypatch.setattr(experiment_module, "file_sha256", lambda path: hashed.append(path) or real(path))
    hparams = {
        "data_folder": str(data),
        "trials": None,
        "test_annotation": None,
        "score_norm": "none",
        "cohort": "speakers",
        "output_folder": None,
        "experiment": str(tmp_path / "exp" / "run"),
    }
    settings = evaluation.resolve_settings(hparams, {"data_folder": str(data)})
    assert hashed == [str(data / "trials.txt")]
    assert settings["trials_sha256"] == sha256(str(data / "trials.txt"))
    assert settings["output_folder"].endswith(f"trials-{settings['trials_sha256'][:10]}")
    with pytest.raises(evaluation.DataError, match="trial list not found"):
        evaluation.resolve_settings({**hparams, "trials": str(data / "missing.txt")}, {"data_folder": str(data)})
