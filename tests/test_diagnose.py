"""custom_modules/diagnostics/ (verdicts, config_checks, preflight, probe, overfitting) and recipes/diagnose.py: each failure built on tiny data, a healthy run passes;
the speaker overfitting check of an evaluated experiment on hand-written metrics and results files.

Models are tiny (m_channels=4, 16-dim embeddings, 40 fbanks, 0.3 s crops); the probes take a
few seconds each.
"""

import importlib.util
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from conftest import write_synthetic_speakers

from custom_modules.diagnostics.config_checks import (
    batch_accuracies,
    check_accuracy_counts,
    check_batch_size,
    check_classes,
    check_crop,
    check_learning_rate,
    check_scale_margin,
    check_speakers,
)
from custom_modules.diagnostics.overfitting import (
    NotApplicable,
    check_speaker_overfitting,
    read_final_accuracies,
    read_training_figures,
)
from custom_modules.diagnostics.preflight import preflight, read_data_rows
from custom_modules.diagnostics.probe import (
    check_embedding_collapse,
    check_probe_loss,
    probe_checks,
    probe_training,
)
from custom_modules.diagnostics.verdicts import FAIL, PASS, WARN, Verdict, exit_code, format_table, format_verdict
from custom_modules.models.am_softmax import AMSoftmax, AMSoftmaxOutput, minimum_scale

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"m_channels": 4, "embedding_dim": 16, "n_features": 40, "crop_seconds": 0.3, "batch_size": 4, "num_workers": 0}
TINY_ARGS = [f"--{key}={value}" for key, value in TINY.items() if key != "batch_size"]


def load_hparams(data, out, **overrides):
    from hyperpyyaml import load_hyperpyyaml

    with open(os.path.join(ROOT, "hparams", "res2net_am_demo.yaml")) as handle:
        return load_hyperpyyaml(handle, {"data_folder": data, "output_folder": out, **TINY, **overrides})


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: tiny models gain nothing from more, and on a busy 2-core machine
    competing OpenMP threads slow them down tenfold."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def by_name(verdicts):
    return {v.name: v for v in verdicts}


@pytest.fixture(scope="module")
def healthy_data(tmp_path_factory):
    """10 speakers x 4 utterances of 0.5 s: enough speakers that nothing should be flagged."""
    folder = str(tmp_path_factory.mktemp("healthy") / "data")
    write_synthetic_speakers(folder, speakers=10, utterances=4, seconds=0.5)
    return folder


def load_diagnose():
    spec = importlib.util.spec_from_file_location("diagnose", os.path.join(ROOT, "recipes", "diagnose.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- 1. the mechanism: per-batch accuracy over batches of one sample ----------------------


def test_batches_of_one_give_only_0_or_100_while_summed_counts_give_the_fraction():
    torch.manual_seed(0)
    head = AMSoftmax(input_size=4, num_classes=4, margin=0.2, scale=30)
    head.weight.data.copy_(torch.eye(4))  # class j's weight is axis j: argmax(cos) = predicted class
    predicted = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 3, 0])  # 3 of 8 right
    embeddings = F.one_hot(predicted, 4).float() + 0.01 * torch.randn(8, 4)
    per_batch, correct, total = [], 0, 0
    for i in range(8):  # batch size 1, as with variable-length inputs and no crops
        out = head(embeddings[i : i + 1], labels[i : i + 1])
        per_batch.append(100.0 * int(out.correct) / int(out.total))
        correct, total = correct + int(out.correct), total + int(out.total)
    assert set(per_batch) <= {0.0, 100.0}  # the last batch's value, a progress bar: 0 or 100
    assert per_batch == batch_accuracies((predicted == labels).tolist(), 1)
    assert per_batch[-1] == 0.0
    assert (correct, total) == (3, 8) and 100.0 * correct / total == 37.5  # this project's epoch figure
    # a mean of per-batch accuracies is also wrong when the last batch is smaller: 3 of 7 right
    values = batch_accuracies([True, True, False, False, False, False, True], 3)
    assert values == [pytest.approx(200 / 3), 0.0, 100.0]
    assert sum(values) / len(values) == pytest.approx(55.56, abs=0.01) != pytest.approx(100 * 3 / 7)


def test_batch_size_checks():
    one = check_batch_size(1, 912)
    assert one.status == WARN and "912 steps per epoch" in one.reason and "0% or 100%" in one.reason
    assert "--batch_size=32" in one.fix
    assert check_batch_size(1, 912, counts_samples=None).status == FAIL  # head without counts
    last = check_batch_size(8, 17)
    assert last.status == WARN and "17 = 2 x 8 + 1" in last.reason and "drop_last" in last.fix
    assert check_batch_size(8, 17, drop_last=True).status == PASS
    assert check_batch_size(32, 912).status == PASS


# ---- 2. crops ------------------------------------------------------------------------------


def test_crop_checks():
    assert check_crop(None, [1.0] * 10).status == FAIL
    assert check_crop(0, [1.0] * 10).status == FAIL
    long = check_crop(2.0, [1.0] * 900 + [3.0] * 12)
    assert long.status == WARN and "900 of 912 training utterances (98.7%)" in long.reason
    assert "median 1.00 s" in long.reason and long.fix.startswith("--crop_seconds=1")
    ok = check_crop(1.0, [1.0] * 900 + [0.5] * 12)
    assert ok.status == PASS and "12 of 912" in ok.reason


# ---- 3. accuracy on margin-penalised logits --------------------------------------------------


def test_accuracy_count_checks_say_by_how_much():
    ok = check_accuracy_counts(5, 5, 2, 8, 0.2)
    assert ok.status == PASS and "5/8 (62.5%)" in ok.reason and "2/8 (25.0%)" in ok.reason
    assert "under-reporting by 37.5 points" in ok.reason
    bad = check_accuracy_counts(2, 5, 2, 8, 0.2)
    assert bad.status == WARN and "matches the margin-penalised logits" in bad.reason and "argmax(cos)" in bad.fix


class MarginCountingHead(AMSoftmax):
    """The hand-written mistake: accuracy counted on the logits with the margin subtracted."""

    def forward(self, embeddings, labels):
        out = super().forward(embeddings, labels)
        labels = labels.reshape(-1)
        cos = self.cosine(embeddings)
        logits = self.margin_logits(cos, F.one_hot(labels, self.num_classes).to(cos.dtype))
        return AMSoftmaxOutput(out.loss, (logits.argmax(dim=1) == labels).sum(), out.total)


def test_probe_of_a_healthy_config_passes_and_counts_margin_free(healthy_data, tmp_path):
    hparams = load_hparams(healthy_data, str(tmp_path / "exp"))
    rows = read_data_rows(hparams)
    probe = probe_training(hparams, rows.train, steps=3)
    assert probe.error is None and probe.batch_size == 4 and probe.speakers == 4 and probe.pairs == 6
    assert len(probe.losses) == 4 and probe.losses[-1] < probe.losses[0]
    assert probe.head_correct == probe.cos_correct  # AMSoftmax counts argmax(cos)
    assert probe.margin_correct <= probe.cos_correct
    verdicts = by_name(probe_checks(probe))
    assert {v.status for v in verdicts.values()} == {PASS}, format_table(list(verdicts.values()))
    assert f"{probe.cos_correct}/4" in verdicts["margin accuracy"].reason


def test_probe_flags_a_head_that_counts_margin_penalised_logits(healthy_data, tmp_path):
    hparams = load_hparams(healthy_data, str(tmp_path / "exp"))
    hparams["classifier"] = MarginCountingHead(16, 10, margin=0.5, scale=30)
    probe = probe_training(hparams, load_rows(hparams), steps=3)
    assert probe.error is None
    assert probe.head_correct == probe.margin_correct < probe.cos_correct
    verdict = by_name(probe_checks(probe))["margin accuracy"]
    assert verdict.status == WARN
    assert f"argmax(cos) gives {probe.cos_correct}/4" in verdict.reason
    gap = 100.0 * (probe.cos_correct - probe.margin_correct) / 4
    assert f"under-reporting by {gap:.1f} points" in verdict.reason


def load_rows(hparams):
    return read_data_rows(hparams).train


# ---- 4. classes and labels -----------------------------------------------------------------


def test_num_classes_override_and_stale_label_encoder(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    verdict = by_name(preflight(load_hparams(tiny_dataset, out, num_classes=7)))["classes"]
    assert verdict.status == FAIL
    assert "num_classes=7 but" in verdict.reason and "has 4 training speakers" in verdict.reason
    assert "labels 4..6 have no examples" in verdict.reason and "--num_classes=4" in verdict.fix
    assert "out of range" in by_name(preflight(load_hparams(tiny_dataset, out, num_classes=3)))["classes"].reason
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "label_encoder.txt"), "w") as handle:  # resumed folder, labels 0,1,2,5
        handle.write("'spk0' => 0\n'spk1' => 1\n'spk2' => 2\n'spk3' => 5\n================\n'starting_index' => 0\n")
    verdict = by_name(preflight(load_hparams(tiny_dataset, out)))["classes"]
    assert verdict.status == FAIL
    assert verdict.reason == "label indices [5] are outside [0, 4) and [3] are unused (not contiguous)"
    assert check_classes(4, ["a", "b", "c", "d"], {"a": 0, "b": 1, "c": 2, "d": 3}).status == PASS


# ---- 5. scale and margin -------------------------------------------------------------------


def test_scale_bound_and_saturation():
    bound = minimum_scale(16, 0.99, 0.2)
    ok = check_scale_margin(30, 0.2, 16)
    assert f"{bound:.2f}" == "8.43"
    assert ok.status == PASS and ok.reason.startswith("s=30 >= 8.43, the smallest scale at which C=16 classes")
    small = check_scale_margin(8, 0.2, 16)
    assert small.status == WARN and "s=8 < 8.43" in small.reason and "(6.85 without margin)" in small.reason
    assert check_scale_margin(8, 0.0, 16).status == PASS  # 8 >= 6.85 without margin
    assert check_scale_margin(30, 1.0, 16).status == FAIL
    saturated = check_scale_margin(64, 0.35, 16)
    assert saturated.status == WARN and "s*m=22.4 >= 20" in saturated.reason
    assert check_scale_margin(64, 0.35, 16, warmup=True).status == PASS


# ---- 6. speakers ---------------------------------------------------------------------------


def test_speaker_checks(tiny_dataset, tmp_path):
    verdict = by_name(preflight(load_hparams(tiny_dataset, str(tmp_path / "exp"))))["speakers"]
    assert verdict.status == WARN and "4 training speakers (< 10)" in verdict.reason and "25.0%" in verdict.reason
    single = check_speakers({f"s{i}": 1 if i < 3 else 8 for i in range(12)})
    assert single.status == WARN and single.reason.startswith("3 of 12 speakers have fewer than 2 utterances")
    assert check_speakers({"a": 5}).status == FAIL


# ---- 7. validation on unseen speakers, test leaks ------------------------------------------


def test_validation_on_unseen_speakers_and_test_leak(tiny_dataset, tmp_path):
    test_csv = os.path.join(tiny_dataset, "test.csv")
    verdicts = by_name(preflight(load_hparams(tiny_dataset, str(tmp_path / "a"), valid_annotation=test_csv)))
    assert verdicts["validation"].status == FAIL
    assert verdicts["validation"].reason.startswith("2 of 2 validation speakers are not training speakers")
    assert verdicts["test leak"].status == PASS and "6 training speakers" not in verdicts["test leak"].reason
    train_lines = open(os.path.join(tiny_dataset, "train.csv")).read().strip().splitlines()
    with open(test_csv, "a") as handle:  # spk0's utterances also in the test set
        handle.write("\n".join(line.replace("spk0/", "leak/") for line in train_lines[1:7]) + "\n")
    verdict = by_name(preflight(load_hparams(tiny_dataset, str(tmp_path / "b"))))["test leak"]
    assert verdict.status == FAIL and verdict.reason.startswith("1 of 3 speakers of") and "'spk0'" in verdict.reason


# ---- 8. probe: NaN, flat loss, collapse ----------------------------------------------------


def test_probe_loss_and_collapse_rules():
    assert check_probe_loss([9.5, float("nan")]).status == FAIL
    assert check_probe_loss([9.5, float("inf"), 3.0]).status == FAIL
    flat = check_probe_loss([9.5, 9.5, 9.48])
    assert flat.status == WARN and "+0.2% vs at least 1%" in flat.reason
    assert check_probe_loss([9.5, 8.0, 7.0]).status == PASS
    collapsed = check_embedding_collapse(0.9996, 28, 0.87)
    assert collapsed.status == WARN and "0.9996 over 28 pairs" in collapsed.reason
    assert check_embedding_collapse(0.98, 28, 0.87).status == PASS  # normal in the first steps
    assert check_embedding_collapse(float("nan"), 28).status == FAIL


def test_probe_with_a_tiny_learning_rate_does_not_decrease(healthy_data, tmp_path):
    hparams = load_hparams(healthy_data, str(tmp_path / "exp"), lr=1e-9)
    verdicts = by_name(preflight(hparams))
    assert (
        verdicts["learning rate"].status == WARN
        and "lr=1e-09 is below the sane range 1e-05..0.01 for Adam" in verdicts["learning rate"].reason
    )
    probe = probe_training(hparams, load_rows(hparams), steps=2)
    verdict = by_name(probe_checks(probe))["probe loss"]
    assert verdict.status == WARN and "did not decrease over 2 updates" in verdict.reason


# ---- 9. learning rate ----------------------------------------------------------------------


def test_learning_rate_ranges():
    assert check_learning_rate(1e-3, "Adam").status == PASS
    assert check_learning_rate(0.1, "Adam").status == WARN
    assert check_learning_rate(0.1, "SGD").status == PASS
    assert check_learning_rate(1e-6, "SGD").status == WARN
    assert check_learning_rate(0.0, "Adam").status == FAIL
    assert check_learning_rate(3.0, "Adafactor").status == PASS  # no range known: not judged


# ---- healthy config, table, command line -----------------------------------------------------


def test_healthy_config_passes_every_config_check(healthy_data, tmp_path):
    verdicts = preflight(load_hparams(healthy_data, str(tmp_path / "exp")))
    assert [v.name for v in verdicts] == [
        "batch size",
        "crop",
        "classes",
        "scale/margin",
        "speakers",
        "validation",
        "test leak",
        "learning rate",
        "audio",
    ]
    assert all(v.status == PASS for v in verdicts), format_table(verdicts)
    assert exit_code(verdicts) == 0


def test_missing_data_is_one_fail():
    verdicts = preflight({"train_annotation": "/nowhere/train.csv", "data_folder": "/nowhere"})
    assert [(v.name, v.status) for v in verdicts] == [("data", FAIL)] and "/nowhere/train.csv" in verdicts[0].reason


def test_format_table_wraps_reason_and_fix():
    table = format_table([Verdict("batch size", WARN, "x " * 80, "use 32"), Verdict("crop", PASS, "fine")])
    lines = table.splitlines()
    assert lines[0].startswith("STATUS") and lines[1].startswith("WARN    batch size")
    assert any(line.strip() == "fix: use 32" for line in lines) and lines[-1].startswith("PASS    crop")


def test_cli_flags_batch_size_one_and_wrong_classes(tiny_dataset, tmp_path, capsys):
    diagnose = load_diagnose()
    code = diagnose.main(
        [
            "hparams/res2net_am_demo.yaml",
            f"--data_folder={tiny_dataset}",
            f"--output_folder={tmp_path / 'exp'}",
            *TINY_ARGS,
            "--batch_size=1",
            "--num_classes=7",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert any(line.startswith("WARN    batch size       batch_size=1") for line in out.splitlines())
    assert "FAIL    classes          num_classes=7 but" in out
    assert "probe skipped: fix the classes FAIL first" in out
    assert out.strip().splitlines()[-1].startswith("summary:") and out.strip().endswith("FAIL -> exit 1")
    assert diagnose.main(["hparams/res2net_am_demo.yaml", f"--data_folder={tmp_path / 'nowhere'}"]) == 1
    assert "FAIL    data" in capsys.readouterr().out


def test_cli_healthy_run_exits_0_with_every_check_passing(healthy_data, tmp_path):
    cmd = [
        sys.executable,
        "recipes/diagnose.py",
        "hparams/res2net_am_demo.yaml",
        f"--data_folder={healthy_data}",
        f"--output_folder={tmp_path / 'exp'}",
        *TINY_ARGS,
        "--batch_size=4",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[-1] == "summary: 12 PASS, 0 WARN, 0 FAIL -> exit 0", run.stdout
    assert "PASS    audio" in run.stdout
    assert lines.index("config and data checks") < [i for i, line in enumerate(lines) if line.startswith("probe:")][0]
    assert "batch of 4 utterances of 4 speakers, 0.3 s centre crops" in run.stdout


# ---- after training and evaluation: speaker overfitting ------------------------------------


FLOOR = 0.217  # the 20-MFCC floor's EER on the dev trials


def test_speaker_overfitting_accuracy_boundary_is_strictly_above_90_percent():
    at = check_speaker_overfitting(0.95, 0.90, FLOOR, FLOOR, 16)
    above = check_speaker_overfitting(0.95, 0.91, FLOOR, FLOOR, 16)
    assert (at.status, above.status) == (PASS, WARN)
    assert "not speaker overfitting (more likely under-training)" in at.reason and at.fix == ""
    # the validation accuracy decides when there is one, even beside 100% training accuracy
    assert check_speaker_overfitting(1.0, 0.85, FLOOR, FLOOR, 16).status == PASS
    # without closed-set validation, the training accuracy decides
    assert check_speaker_overfitting(0.90, None, FLOOR, FLOOR, 16).status == PASS
    no_valid = check_speaker_overfitting(0.91, None, FLOOR, FLOOR, 16)
    assert no_valid.status == WARN and "(training, last epoch; no closed-set validation)" in no_valid.reason
    assert check_speaker_overfitting(0.5, 0.95, FLOOR, FLOOR, 16, accuracy_threshold=0.96).status == PASS


def test_speaker_overfitting_eer_boundary_is_2_points_below_the_floor_inclusive():
    for floor in (FLOOR, 0.3, 0.18, 0.1, 0.0201):  # floor - 0.02 is inexact in binary for most of them
        within = check_speaker_overfitting(1.0, 0.95, round(floor - 0.02, 10), floor, 16)
        beyond = check_speaker_overfitting(1.0, 0.95, round(floor - 0.0201, 10), floor, 16)
        assert (within.status, beyond.status) == (WARN, PASS), floor
        assert "2.00 points below" in within.reason and "2.01 points below" in beyond.reason
    worse = check_speaker_overfitting(1.0, 0.95, 0.25, FLOOR, 16)
    assert (
        worse.status == WARN
        and "3.30 points above the no-learning floor's 21.70% (no better than learning nothing)" in worse.reason
    )
    same = check_speaker_overfitting(1.0, 0.95, FLOOR, FLOOR, 16)
    assert same.status == WARN and "the same as the no-learning floor's 21.70%" in same.reason
    # the committed 12-epoch demo systems: 18.83% vs the 20-MFCC floor (21.70%) and the 40-MFCC floor (17.97%)
    assert check_speaker_overfitting(1.0, 0.979, 0.1883, 0.217, 16).status == PASS
    assert check_speaker_overfitting(1.0, 0.979, 0.1883, 0.1797, 16).status == WARN
    assert check_speaker_overfitting(1.0, 0.979, 0.1883, 0.217, 16, margin_points=3.0).status == WARN
    with pytest.raises(ValueError, match="fractions"):
        check_speaker_overfitting(1.0, 97.9, 18.83, 21.7, 16)
    with pytest.raises(ValueError, match="no closed-set accuracy"):
        check_speaker_overfitting(None, None, 0.2, FLOOR, 16)


def test_speaker_overfitting_message_names_speakers_figures_and_remedies():
    warn = check_speaker_overfitting(0.998, 0.979, 0.205, FLOOR, 16, epoch=12)
    assert warn.name == "speaker overfitting" and warn.status == WARN
    for figure in (
        "closed-set accuracy 97.9% (validation, epoch 12; training 99.8%)",
        "16 training speakers",
        "20.50%",
        "only 1.20 points below the no-learning floor's 21.70% (within 2 points)",
    ):
        assert figure in warn.reason, figure
    for remedy in (
        "speed perturbation",
        "new speakers",
        "random crops shorter than the utterance",
        "time/frequency masking",
        "additive noise",
        "babble",
        "reverberation",
        "custom_modules/data/augmentation.py",
        "hparams/res2net_am_smalldata.yaml",
        "EER on held-out validation speakers",
        "stop early",
        "AS-norm",
        "recipes/eval.py --score_norm=as",
        "more training speakers",
        "recipes/learning_curve.py",
    ):
        assert remedy in warn.fix, remedy
    assert format_verdict(warn).startswith("WARN speaker overfitting: closed-set accuracy 97.9%")
    ok = check_speaker_overfitting(1.0, 0.979, 0.1883, FLOOR, 16, epoch=12)
    assert ok.status == PASS and ok.fix == ""
    assert (
        "16 training speakers; EER on the trials 18.83%, 2.87 points below the no-learning floor's 21.70%" in ok.reason
    )
    # a long check name widens the table's name column instead of running into the reason
    lines = format_table([Verdict("crop", PASS, "fine"), warn]).splitlines()
    assert lines[0] == "STATUS  CHECK                REASON"
    assert lines[1] == "PASS    crop                 fine"
    assert lines[2].startswith("WARN    speaker overfitting  closed-set accuracy")
    assert all(line.startswith(" " * 29) and line[29] != " " for line in lines[3:])


def write_evaluated_experiment(folder, epochs, speakers=16, num_classes=None, systems=None, floor_eer=None):
    """A training output folder as recipes/train.py + eval.py leave it, without any audio:
    metrics.jsonl (``epochs``: (train acc, valid acc) per epoch), experiment.json, its
    training split, hyperparams.yaml and eval/trials/results.json."""
    import json

    os.makedirs(os.path.join(folder, "eval", "trials"), exist_ok=True)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as handle:
        for epoch, (train, valid) in enumerate(epochs, 1):
            handle.write(
                json.dumps(
                    {
                        "epoch": epoch,
                        "lr": 1e-3,
                        "margin": 0.2,
                        "train": {"loss": 1.0, "acc": train, "correct": 0, "samples": 912},
                        "valid": {"loss": 1.0, "acc": valid, "correct": 0, "samples": 96},
                    }
                )
                + "\n\n"
            )
    train_csv = os.path.join(folder, "train_split.csv")
    with open(train_csv, "w") as handle:
        handle.write("ID,wav,spk_id\n" + "".join(f"u{i},wav/u{i}.wav,s{i % speakers}\n" for i in range(3 * speakers)))
    with open(os.path.join(folder, "experiment.json"), "w") as handle:
        json.dump(
            {
                "train_csv": train_csv,
                "num_classes": num_classes or speakers,
                "data_folder": folder,
                "sample_rate": 16000,
            },
            handle,
        )
    with open(os.path.join(folder, "hyperparams.yaml"), "w") as handle:
        handle.write("embedding_model: !new:custom_modules.models.res2net.Res2Net50\n")
    results = {
        "experiment": os.path.abspath(folder),
        "trials": "/data/trials.txt",
        "n_target": 3000,
        "n_nontarget": 3000,
        "systems": systems or {"none": {"eer": 0.205}},
        "floor": None if floor_eer is None else {"eer": floor_eer},
    }
    with open(os.path.join(folder, "eval", "trials", "results.json"), "w") as handle:
        json.dump(results, handle)
    return folder


def test_training_figures_from_metrics_jsonl_and_experiment_json(tmp_path):
    folder = write_evaluated_experiment(str(tmp_path / "exp"), [(0.5, 0.4), (0.99, 0.95)], speakers=16, num_classes=48)
    # speakers are counted in the training split (num_classes counts speed-perturbed copies as classes)
    assert read_training_figures(folder) == {
        "epoch": 2,
        "train_accuracy": 0.99,
        "valid_accuracy": 0.95,
        "num_speakers": 16,
    }
    with open(os.path.join(folder, "metrics.jsonl"), "a") as handle:  # a re-run that logged epoch 1 again
        handle.write('{"epoch": 1, "train": {"acc": 0.1, "samples": 8}, "valid": {"acc": 0.1, "samples": 8}}\n')
    assert read_final_accuracies(os.path.join(folder, "metrics.jsonl"))["train_accuracy"] == 0.99
    os.remove(os.path.join(folder, "train_split.csv"))
    assert read_training_figures(folder)["num_speakers"] == 48  # fallback: experiment.json's num_classes
    os.remove(os.path.join(folder, "metrics.jsonl"))
    with pytest.raises(NotApplicable, match="metrics.jsonl not found"):
        read_training_figures(folder)  # a pretrained or exported model folder
    floor = tmp_path / "floor"
    floor.mkdir()
    (floor / "hyperparams.yaml").write_text("embedding_model: !new:custom_modules.models.floor.CepstralStatistics\n")
    with pytest.raises(NotApplicable, match="floor system itself"):
        read_training_figures(str(floor))


def test_cli_evaluated_runs_the_overfitting_check_from_results_json(tmp_path, capsys):
    diagnose = load_diagnose()
    folder = write_evaluated_experiment(str(tmp_path / "exp"), [(0.7, 0.6), (0.998, 0.979)], floor_eer=FLOOR)
    assert diagnose.main(["--evaluated", folder]) == 0  # a WARN, not a FAIL
    out = " ".join(capsys.readouterr().out.split())  # the table pads its columns
    assert "on 6000 trials of /data/trials.txt" in out
    assert "WARN speaker overfitting closed-set accuracy 97.9% (validation, epoch 2; training 99.8%) on 16" in out
    assert "PASS worse than no learning EER 20.50% on the trials, 1.20 points below the no-learning floor's" in out
    assert "recipes/learning_curve.py" in out and out.strip().endswith("summary: 1 PASS, 1 WARN, 0 FAIL -> exit 0")
    # the same from the eval folder or results.json itself, and with a stricter rule
    results = os.path.join(folder, "eval", "trials", "results.json")
    assert diagnose.main([f"--evaluated={results}", "--margin_points=1"]) == 0
    assert "PASS speaker overfitting" in " ".join(capsys.readouterr().out.split())
    # an evaluation made before eval.py computed the floor: a note, or the floor's EER given in percent
    old = write_evaluated_experiment(str(tmp_path / "old"), [(0.998, 0.979)], systems={"none": {"eer": 0.1883}})
    assert diagnose.main(["--evaluated", old]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the table pads its columns
    assert "note: speaker overfitting check skipped: results.json has no floor EER" in out and "--floor_eer" in out
    assert "summary: 0 PASS, 0 WARN, 0 FAIL" in out
    assert diagnose.main(["--evaluated", old, "--floor_eer=17.97"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the table pads its columns
    assert "WARN speaker overfitting" in out
    # 18.83% against a floor of 17.97%: worse than learning nothing, with the causes and the fix
    assert "WARN worse than no learning EER 18.83% on the trials is 0.86 points above the no-learning floor's" in out
    assert "too few epochs (1 trained)" in out and "smalldata.yaml" in out
    assert diagnose.main(["--evaluated", str(tmp_path / "nowhere")]) == 1
    out = " ".join(capsys.readouterr().out.split())  # the table pads its columns
    assert "FAIL evaluation" in out and "recipes/eval.py" in out


def test_worse_than_the_floor_is_strictly_above_it():
    from custom_modules.diagnostics.floor_check import check_against_floor

    assert check_against_floor(0.2157, 0.2157).status == "PASS"  # equal is not worse
    assert check_against_floor(0.2156, 0.2157).status == "PASS"
    above = check_against_floor(0.2158, 0.2157)
    assert above.status == "WARN" and "0.01 points above the no-learning floor's 21.57%" in above.reason
    assert check_against_floor(1.0, 0.0).status == "WARN" and check_against_floor(0.0, 0.0).status == "PASS"
    with pytest.raises(ValueError, match="fractions in \\[0, 1\\], not percentages"):
        check_against_floor(30.33, 21.57)


def test_worse_than_the_floor_names_the_likely_causes_and_the_fix():
    from custom_modules.diagnostics.floor_check import check_against_floor

    v = check_against_floor(0.3033, 0.2157, epochs=4, recipe="res2net_am_demo", augmented=False)
    assert v.name == "worse than no learning" and v.status == "WARN"
    assert v.reason == (
        "EER 30.33% on the trials is 8.76 points above the no-learning floor's 21.57% (cepstral mean "
        "+ std, cosine): the model is worse than learning nothing. Likely causes: too few epochs "
        "(4 trained); no augmentation (this run had none); a recipe made for many speakers "
        "(res2net_am_demo)"
    )
    assert "hparams/res2net_am_smalldata.yaml" in v.fix and "more epochs" in v.fix and "seeds" in v.fix
    # facts that are unknown (an exported model) are not invented; a small-data recipe is not blamed
    v = check_against_floor(0.25, 0.2, recipe="res2net_am_smalldata_e8")
    assert "too few epochs;" in v.reason and "(res2net" not in v.reason and "small-data recipe (" in v.fix
    # the augmented small-data recipe already in use (dev-trained models on dsp20): not told to use it again
    v = check_against_floor(0.2513, 0.12, epochs=12, recipe="res2net_am_smalldata_e12", augmented=True)
    assert v.status == "WARN" and "13.13 points above" in v.reason
    assert "trial speakers unlike the training speakers" in v.reason and "too few training speakers" in v.reason
    assert "too few epochs (12 trained)" in v.reason
    assert "smalldata.yaml" not in v.fix and "--extra_train" in v.fix and "--init_from" in v.fix
    assert check_against_floor(0.12, 0.12, recipe="res2net_am_smalldata_e12", augmented=True).status == "PASS"


def test_training_recipe_facts_read_the_hparams_without_executing_them(tmp_path):
    from custom_modules.diagnostics.floor_check import training_recipe_facts

    folder = str(tmp_path)
    marker = tmp_path / "executed"
    with open(os.path.join(folder, "hyperparams.yaml"), "w") as handle:
        handle.write(
            f"experiment_name: res2net_am_smalldata\nrun: !apply:os.mkdir ['{marker}']\n"
            "augmentation: !new:custom_modules.data.augmentation.TrainingAugmentation\n"
        )
    assert training_recipe_facts(folder) == {"epochs": None, "recipe": None, "augmented": None}  # no metrics.jsonl
    with open(os.path.join(folder, "metrics.jsonl"), "w") as handle:
        handle.write('{"epoch": 1}\n\n{"epoch": 2}\n{"epoch": 3}\n')
    assert training_recipe_facts(folder) == {"epochs": 3, "recipe": "res2net_am_smalldata", "augmented": True}
    assert not marker.exists()
