"""recipes/train.py end to end on a tiny synthetic dataset (subprocesses, a few seconds each)."""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    "--m_channels=4",
    "--embedding_dim=16",
    "--n_features=40",
    "--batch_size=4",
    "--crop_seconds=0.3",
    "--valid_max_seconds=0.5",
    "--num_workers=0",
    "--noprogressbar",
    "--valid_fraction=0.2",
]


def train(data, out, *extra, hparams="hparams/res2net_am_demo.yaml"):
    cmd = [
        sys.executable,
        "recipes/train.py",
        hparams,
        f"--data_folder={data}",
        f"--output_folder={out}",
        *TINY,
        *extra,
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def records(out):
    with open(os.path.join(out, "metrics.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def test_debug_run_logs_accuracy_as_correct_over_samples_seen(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    run = train(tiny_dataset, out, "--debug")
    assert run.returncode == 0, run.stderr[-3000:]
    logged = records(out)
    assert [r["epoch"] for r in logged] == [1, 2]  # --debug: 2 epochs of 2 batches
    for r in logged:
        assert r["train"]["samples"] == 2 * 4  # 2 batches of 4, not 2 "batch averages"
        assert r["valid"]["samples"] == 4  # 4 speakers x 1 held-out utterance
        for split in ("train", "valid"):
            assert r[split]["acc"] == pytest.approx(r[split]["correct"] / r[split]["samples"])
    with open(os.path.join(out, "train_log.txt")) as handle:
        assert "train samples: 8" in handle.read()


def test_full_epochs_resume_from_checkpoint(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    first = train(tiny_dataset, out, "--number_of_epochs=1")
    assert first.returncode == 0, first.stderr[-3000:]
    assert [r["epoch"] for r in records(out)] == [1]
    assert records(out)[0]["train"]["samples"] == 20  # every training utterance, once
    second = train(tiny_dataset, out, "--number_of_epochs=2")
    assert second.returncode == 0, second.stderr[-3000:]
    assert [r["epoch"] for r in records(out)] == [1, 2]  # resumed: epoch 1 not trained again
    assert "Loading a checkpoint from" in second.stderr + second.stdout
    with open(os.path.join(out, "train_split.csv")) as handle:
        assert len(handle.read().strip().splitlines()) == 21


def test_wrong_num_classes_stops_with_both_numbers(tiny_dataset, tmp_path):
    run = train(tiny_dataset, str(tmp_path / "exp"), "--num_classes=7", "--debug")
    assert run.returncode != 0
    assert "num_classes=7 but" in run.stderr and "has 4 training speakers" in run.stderr
    assert "--num_classes=4" in run.stderr


def test_missing_data_folder_says_how_to_get_data(tmp_path):
    run = train(str(tmp_path / "nowhere"), str(tmp_path / "exp"), "--debug")
    assert run.returncode != 0
    assert "nowhere" in run.stderr and ("not found" in run.stderr)


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(ROOT, "..", "shared", "data", "dev", "train.csv")),
    reason="dev data not beside the clone",
)
def test_dev_data_debug_run(tmp_path):
    out = str(tmp_path / "exp")
    run = train(os.path.join(ROOT, "..", "shared", "data", "dev"), out, "--debug")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "of 16 speakers" in run.stdout
    assert records(out)[-1]["train"]["samples"] == 8


def test_bf16_autocast_trains_with_finite_losses(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    run = train(tiny_dataset, out, "--debug", "--precision=bf16")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "--precision=bf16" in run.stderr + run.stdout
    for record in records(out):
        for split in ("train", "valid"):
            assert math.isfinite(record[split]["loss"]) and record[split]["samples"] > 0


def test_fp16_without_a_gpu_says_use_bf16(tiny_dataset, tmp_path):
    run = train(tiny_dataset, str(tmp_path / "exp"), "--debug", "--precision=fp16", "--device=cpu")
    assert run.returncode != 0
    assert "--precision=fp16 needs a CUDA GPU" in run.stderr and "--precision=bf16" in run.stderr


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="fp16 autocast needs a CUDA GPU")
def test_fp16_autocast_trains_with_finite_losses_on_gpu(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    run = train(tiny_dataset, out, "--debug", "--precision=fp16", "--device=cuda:0")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "--precision=fp16" in run.stderr + run.stdout
    for record in records(out):
        for split in ("train", "valid"):
            assert math.isfinite(record[split]["loss"]) and record[split]["samples"] > 0


def test_heldout_speakers_drive_checkpoint_selection(tiny_dataset, tmp_path):
    """valid_speakers=2: 2 whole speakers never trained on; their all-pairs EER is logged each
    epoch, saved in the checkpoint meta, and eval's checkpoint=auto picks its minimum."""
    import csv

    import numpy as np

    from custom_modules.data.dataio import row_segments
    from custom_modules.experiment import load_experiment
    from custom_modules.models.embedding import embed_utterances
    from custom_modules.scoring.heldout import pairwise_eer

    out = str(tmp_path / "exp")
    run = train(tiny_dataset, out, "--valid_speakers=2", "--number_of_epochs=2")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "training on 10 utterances of 2 speakers" in run.stdout  # 4 speakers - 2 held out; 1 valid utt each
    assert "model selection by EER on 12 utterances of 2 held-out speakers" in run.stdout
    with open(os.path.join(out, "heldout_speakers.csv")) as handle:
        held = list(csv.DictReader(handle))
    with open(os.path.join(out, "train_split.csv")) as handle:
        trained = {r["spk_id"] for r in csv.DictReader(handle)}
    assert len(held) == 12 and {r["spk_id"] for r in held}.isdisjoint(trained) and len(trained) == 2
    logged = records(out)
    assert [r["valid"]["heldout_trials"] for r in logged] == [66, 66]  # 12 utterances: all 66 pairs
    best = min(logged, key=lambda r: (r["valid"]["heldout_eer"], -r["epoch"]))
    experiment = load_experiment(out, "auto")
    assert experiment.record["num_classes"] == 2
    emb = embed_utterances(experiment.extractor, row_segments(held, tiny_dataset))
    recomputed = pairwise_eer(emb, [r["spk_id"] for r in held]).eer
    assert recomputed == pytest.approx(best["valid"]["heldout_eer"], abs=2e-5)  # a fraction, like every EER
    assert np.isfinite(recomputed)


def test_same_seed_and_threads_give_bitwise_the_same_parameters(tiny_dataset, tmp_path):
    """Two runs of one command (small-data recipe: crops, speed classes, equal lengths, noise,
    babble, reverberation, masking) with one seed and one thread train the same parameters,
    bit for bit; another seed does not."""
    smalldata = ["--min_crop_seconds=0.2", "--debug"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    digests = []
    for run_name, extra in (("a", ["--seed=7"]), ("b", ["--seed=7"]), ("other_seed", ["--seed=8"])):
        out = str(tmp_path / run_name)
        cmd = [
            sys.executable,
            "recipes/train.py",
            "hparams/res2net_am_smalldata.yaml",
            f"--data_folder={tiny_dataset}",
            f"--output_folder={out}",
            *TINY,
            *smalldata,
            *extra,
        ]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        assert run.returncode == 0, run.stderr[-3000:]
        digests.append([r["parameters_sha256"] for r in records(out)])
        peaks = [r["peak_rss_gib"] for r in records(out)]
        assert 0.1 < peaks[0] <= peaks[-1] < 64  # the process's own peak resident memory, in GiB
    assert len(digests[0]) == 2 and len(set(digests[0])) == 2  # --debug: 2 epochs, and training changed them
    assert digests[0] == digests[1]
    assert digests[2][-1] != digests[0][-1]


@pytest.mark.parametrize("damage", ["only CKPT.yaml", "truncated encoder"])
def test_a_half_written_checkpoint_is_set_aside_and_the_rerun_resumes(tiny_dataset, tmp_path, damage):
    """What a run killed while saving leaves (SpeechBrain writes CKPT.yaml first, then each
    .ckpt): the rerun moves it aside, says so, and resumes from the previous checkpoint."""
    import re
    import shutil

    out = str(tmp_path / "exp")
    first = train(tiny_dataset, out, "--number_of_epochs=1")
    assert first.returncode == 0, first.stderr[-3000:]
    save = os.path.join(out, "save")
    (complete,) = [d for d in os.listdir(save) if d.startswith("CKPT")]
    broken = os.path.join(save, "CKPT+2099-01-01+00-00-00+00")
    shutil.copytree(os.path.join(save, complete), broken)
    meta = open(os.path.join(broken, "CKPT.yaml")).read()
    with open(os.path.join(broken, "CKPT.yaml"), "w") as handle:  # the newest: recovery would pick it
        handle.write(re.sub(r"unixtime: [0-9.]+", "unixtime: 4070908800.0", meta))
    if damage == "only CKPT.yaml":
        for name in os.listdir(broken):
            if name != "CKPT.yaml":
                os.remove(os.path.join(broken, name))
    else:
        path = os.path.join(broken, "embedding_model.ckpt")
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    second = train(tiny_dataset, out, "--number_of_epochs=2")
    assert second.returncode == 0, second.stderr[-3000:]
    said = second.stdout + second.stderr
    reason = "embedding_model.ckpt is truncated" if damage != "only CKPT.yaml" else "is missing"
    assert f"checkpoint {broken} is incomplete" in said and reason in said
    assert os.path.isdir(os.path.join(save, "incomplete-CKPT+2099-01-01+00-00-00+00"))
    assert [r["epoch"] for r in records(out)] == [1, 2]  # resumed from the complete epoch-1 checkpoint


def test_a_value_of_the_wrong_kind_is_one_line_naming_it(tiny_dataset, tmp_path):
    run = train(tiny_dataset, str(tmp_path / "exp"), "--num_classes=abc", "--debug")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert run.stderr.strip().count("\n") == 0, run.stderr[-2000:]
    assert "--num_classes=abc" in run.stderr and "num_classes='abc': give a whole number of classes" in run.stderr


def test_debug_never_writes_into_a_trained_folder(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    first = train(tiny_dataset, out, "--number_of_epochs=1")
    assert first.returncode == 0, first.stderr[-3000:]
    kept = {name: open(os.path.join(out, name)).read() for name in ("metrics.jsonl", "hyperparams.yaml")}
    debug = train(tiny_dataset, out, "--debug")
    assert debug.returncode != 0 and f"--debug would write into {out}" in debug.stderr
    assert "Traceback" not in debug.stderr
    assert {name: open(os.path.join(out, name)).read() for name in kept} == kept


def test_one_run_per_output_folder_and_the_lock_dies_with_its_holder(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; "
            "from custom_modules.outputs.run_lock import hold_folder_lock; hold_folder_lock(sys.argv[1]); "
            "print('held', flush=True); time.sleep(120)",
            out,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = train(tiny_dataset, out, "--debug")
        assert busy.returncode != 0 and f"{out} is in use by another run (pid and command: {holder.pid} " in busy.stderr
        assert "Traceback" not in busy.stderr and not os.path.exists(os.path.join(out, "metrics.jsonl"))
    finally:
        holder.kill()
        holder.wait()
    after = train(tiny_dataset, out, "--debug")  # killed: the kernel released its lock
    assert after.returncode == 0, after.stderr[-3000:]


def test_another_models_checkpoint_is_one_line_naming_the_mismatch(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    first = train(tiny_dataset, out, "--number_of_epochs=1")
    assert first.returncode == 0, first.stderr[-3000:]
    other = train(tiny_dataset, out, "--number_of_epochs=2", "--pooling=attentive")  # another Res2Net50
    assert other.returncode != 0 and "Traceback" not in other.stderr
    (line,) = [line for line in other.stderr.splitlines() if line.startswith("error:")]
    assert len(line) < 600 and "normalizer" not in line, line
    assert "does not fit the model of hparams/res2net_am_demo.yaml (embedding_model:" in other.stderr
    assert "embedding_model: 9 missing keys (e.g. ['pooling.attention" in other.stderr
    assert "pass another --output_folder" in other.stderr


def test_bad_audio_is_found_before_training_all_at_once_with_file_and_line(tiny_dataset, tmp_path):
    """8 kHz, NaN, non-audio, missing, empty and out-of-file rows of the training CSV: train.py
    and diagnose.py list every one with CSV line and ID before any step (none was found
    before: training crashed mid-epoch on the first one read)."""
    import numpy as np
    import soundfile as sf

    csv = os.path.join(tiny_dataset, "train.csv")
    lines = open(csv).read().strip().splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
    wav = header.index("wav")
    path = lambda i: os.path.join(tiny_dataset, rows[i][wav])  # noqa: E731
    sf.write(path(1), np.full(4000, 0.1, dtype="float32"), 8000)
    nan = np.full(8000, 0.1, dtype="float32")
    nan[3] = np.nan
    sf.write(path(5), nan, 16000, subtype="FLOAT")
    open(path(9), "wb").write(b"not audio at all")
    os.remove(path(13))
    sf.write(path(17), np.zeros(0, dtype="float32"), 16000)
    beyond = list(rows[20])
    if "stop" in header:
        beyond[header.index("start")], beyond[header.index("stop")] = "0", "999999"
        beyond[0] += "_beyond"
        open(csv, "a").write(",".join(beyond) + "\n")
    expected = {
        3: "sample rate 8000 Hz, expected 16000 Hz",
        7: "1 NaN/Inf samples",
        11: "unreadable as audio",
        15: "file not found",
        19: "empty (0 samples)",
    }
    if "stop" in header:
        expected[len(rows) + 2] = "outside the file's"
    out = str(tmp_path / "exp")
    run = train(tiny_dataset, out, "--debug")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert f"FAIL audio: {len(expected)} of {len(rows) + ('stop' in header)} rows cannot be trained on" in run.stderr
    for line, message in expected.items():
        assert any(f"train.csv, line {line} (" in text and message in text for text in run.stderr.splitlines()), (
            line,
            message,
            run.stderr[-3000:],
        )
    assert not os.path.exists(os.path.join(out, "metrics.jsonl"))
    diagnose = subprocess.run(
        [
            sys.executable,
            "recipes/diagnose.py",
            "hparams/res2net_am_demo.yaml",
            f"--data_folder={tiny_dataset}",
            f"--output_folder={tmp_path / 'diag'}",
            *TINY,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert diagnose.returncode == 1 and "FAIL    audio" in diagnose.stdout
    assert "probe skipped: fix the audio FAIL first" in diagnose.stdout


@pytest.mark.parametrize("point", ["before_checkpoint", "during_checkpoint", "after_checkpoint"])
def test_a_run_killed_where_it_writes_continues_when_the_command_is_rerun(tiny_dataset, tmp_path, point):
    """A real run SIGKILLed in epoch 2 just before its checkpoint, while writing it (after
    CKPT.yaml and the encoder, before the classifier), or just after it; the same command
    then finishes the 3 epochs, each logged once."""
    import signal

    out = str(tmp_path / "exp")
    cmd = [
        sys.executable,
        "recipes/train.py",
        "hparams/res2net_am_demo.yaml",
        f"--data_folder={tiny_dataset}",
        f"--output_folder={out}",
        *TINY,
        "--number_of_epochs=3",
    ]
    killed = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RES2NET_SV_KILL_AT": f"{point}:2"},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    save = os.path.join(out, "save")
    folders = sorted(d for d in os.listdir(save) if d.startswith("CKPT"))
    assert [r["epoch"] for r in records(out)] == [1, 2]  # epoch 2 was logged before the checkpoint
    assert len(folders) == (1 if point == "before_checkpoint" else 2)
    if point == "during_checkpoint":
        assert sorted(os.listdir(os.path.join(save, folders[-1]))) == ["CKPT.yaml", "embedding_model.ckpt"]
    rerun = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    said = rerun.stdout + rerun.stderr
    assert [r["epoch"] for r in records(out)] == [1, 2, 3]
    if point == "before_checkpoint":
        assert "dropped 1 metrics.jsonl line(s) of epochs after it" in said
    if point == "during_checkpoint":
        assert f"checkpoint {os.path.join(save, folders[-1])} is incomplete" in said
        assert os.path.isdir(os.path.join(save, "incomplete-" + folders[-1]))
    assert "Traceback" not in said


def test_a_last_batch_of_one_utterance_is_dropped_so_ecapa_batch_norm_trains(tiny_dataset, tmp_path):
    """20 training utterances in batches of 19 leave a last batch of 1, which ECAPA's batch
    norm cannot normalise in training (it raised "Expected more than 1 value per channel" in a
    cross-validation fold): that batch is dropped, with a note, and the epoch counts 19."""

    def train_ecapa(out, batch):
        cmd = [
            sys.executable,
            "recipes/train.py",
            "hparams/ecapa_am_demo.yaml",
            f"--data_folder={tiny_dataset}",
            f"--output_folder={out}",
            "--embedding_dim=16",
            "--n_features=40",
            "--crop_seconds=0.3",
            "--num_workers=0",
            "--noprogressbar",
            "--valid_fraction=0.2",
            "--number_of_epochs=1",
            "--ecapa_channels=[16,16,16,16,48]",
            f"--batch_size={batch}",
        ]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)

    out = str(tmp_path / "exp")
    run = train_ecapa(out, 19)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "would leave a last batch of one" in run.stdout
    assert records(out)[0]["train"]["samples"] == 19
    # 18 per batch leave 2: nothing is dropped
    out = str(tmp_path / "exp18")
    run = train_ecapa(out, 18)
    assert run.returncode == 0, run.stderr[-3000:]
    assert records(out)[0]["train"]["samples"] == 20


def checkpoint_of_epoch(out, epoch):
    import glob

    for folder in glob.glob(os.path.join(out, "save", "CKPT+*")):
        if f"epoch: {epoch}\n" in open(os.path.join(folder, "CKPT.yaml")).read():
            return folder
    raise AssertionError(f"no checkpoint of epoch {epoch} in {out}")


def test_fine_tuning_starts_from_a_pretrained_encoder_trains_the_head_alone_then_everything(tiny_dataset, tmp_path):
    import torch

    pretrained = str(tmp_path / "pretrained")
    assert train(tiny_dataset, pretrained, "--number_of_epochs=1").returncode == 0
    source = torch.load(os.path.join(checkpoint_of_epoch(pretrained, 1), "embedding_model.ckpt"))
    out = str(tmp_path / "finetuned")
    run = train(tiny_dataset, out, f"--init_from={pretrained}", "--freeze_encoder_epochs=1", "--number_of_epochs=2")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "init_from: encoder initialised from" in run.stdout and "epoch 1: encoder frozen" in run.stdout
    assert "epoch 2: encoder trains again" in run.stdout
    first = torch.load(os.path.join(checkpoint_of_epoch(out, 1), "embedding_model.ckpt"))
    second = torch.load(os.path.join(checkpoint_of_epoch(out, 2), "embedding_model.ckpt"))
    assert first.keys() == source.keys()
    assert all(torch.equal(first[k], source[k]) for k in source)  # frozen: weights and batch-norm statistics kept
    assert not all(torch.equal(second[k], source[k]) for k in source)  # then the encoder trains
    head = torch.load(os.path.join(checkpoint_of_epoch(out, 1), "classifier.ckpt"))
    assert any(v.numel() > 1 for v in head.values())  # a head of its own, trained in epoch 1


def test_an_encoder_of_another_architecture_is_one_line_naming_the_keys(tiny_dataset, tmp_path):
    pretrained = str(tmp_path / "pretrained")  # 8 stem channels where the recipe below has 4
    cmd = [
        sys.executable,
        "recipes/train.py",
        "hparams/res2net_am_demo.yaml",
        f"--data_folder={tiny_dataset}",
        f"--output_folder={pretrained}",
        "--number_of_epochs=1",
        *[a.replace("m_channels=4", "m_channels=8") for a in TINY],
    ]
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300).returncode == 0
    run = train(tiny_dataset, str(tmp_path / "other"), f"--init_from={pretrained}", "--debug")
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert (
        last.startswith(f"error: {pretrained}/save/CKPT+")
        and "does not fit this recipe's encoder: shapes differ: " in last
    )
    assert "in the file" in last and "in the recipe" in last and "Traceback" not in run.stderr
    run = train(tiny_dataset, str(tmp_path / "none"), f"--init_from={tmp_path}/nowhere", "--debug")
    assert run.returncode != 0 and f"--init_from {tmp_path}/nowhere: no such folder" in run.stderr


def test_init_head_keeps_the_source_runs_head_only_for_the_same_speakers(tiny_dataset, tmp_path):
    import shutil

    import torch

    pretrained = str(tmp_path / "pretrained")
    assert train(tiny_dataset, pretrained, "--number_of_epochs=1").returncode == 0
    source = torch.load(os.path.join(checkpoint_of_epoch(pretrained, 1), "classifier.ckpt"))
    still = ("--number_of_epochs=1", "--lr=1e-12", "--final_lr=1e-12")  # the weights barely move
    heads = {}
    for keep in (True, False):
        out = str(tmp_path / f"keep_{keep}")
        run = train(tiny_dataset, out, f"--init_from={pretrained}", f"--init_head={keep}", *still)
        assert run.returncode == 0, run.stderr[-3000:]
        assert ("the AM-Softmax head too" in run.stdout) == keep
        assert ("the AM-Softmax head is new" in run.stdout) == (not keep)
        heads[keep] = torch.load(os.path.join(checkpoint_of_epoch(out, 1), "classifier.ckpt"))
    assert all(torch.allclose(heads[True][k], source[k], atol=1e-6) for k in source)
    assert not all(torch.allclose(heads[False][k], source[k], atol=1e-3) for k in source)

    other = str(tmp_path / "other_speakers")  # spk3 renamed: another speaker for the head's last class
    shutil.copytree(tiny_dataset, other)
    with open(os.path.join(other, "train.csv")) as handle:
        text = handle.read()
    with open(os.path.join(other, "train.csv"), "w") as handle:
        handle.write(text.replace(",spk3\n", ",spk9\n"))
    run = train(other, str(tmp_path / "wrong"), f"--init_from={pretrained}", "--init_head=True", "--debug")
    last = run.stderr.strip().splitlines()[-1]
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert last.startswith("error: init_head: the head of ") and "4 speakers" in last
    assert "first difference: line 4, 'spk3' => 3 against 'spk9' => 3" in last
    exported = str(tmp_path / "model_folder")  # an encoder alone: no head to keep
    os.makedirs(exported)
    shutil.copy(os.path.join(checkpoint_of_epoch(pretrained, 1), "embedding_model.ckpt"), exported)
    run = train(tiny_dataset, str(tmp_path / "nohead"), f"--init_from={exported}", "--init_head=True", "--debug")
    assert run.returncode != 0 and f"init_head: {exported} holds no classifier.ckpt" in run.stderr
    run = train(tiny_dataset, str(tmp_path / "noinit"), "--init_head=True", "--debug")
    assert run.returncode != 0 and "init_head: True keeps the AM-Softmax head of the --init_from run" in run.stderr


def test_balanced_corpora_draw_every_corpus_equally_and_anew_each_epoch(tiny_dataset, tmp_path):
    """balance_corpora: True with a 'corpus' column (16 utterances of one corpus, 4 of another):
    each epoch draws about half from each, and epoch 2 draws differently from epoch 1 (the
    sampler is seeded by seed + epoch; without set_epoch every epoch repeated the same draws)."""
    import csv

    rows = list(csv.DictReader(open(os.path.join(tiny_dataset, "train.csv"))))
    for row in rows:
        row["corpus"] = "small" if row["spk_id"] == "spk3" else "big"
    data = tmp_path / "joint"
    data.mkdir()
    with open(data / "train.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "wav": os.path.join(tiny_dataset, r["wav"])} for r in rows)
    run = train(str(data), str(tmp_path / "exp"), "--balance_corpora=True", "--number_of_epochs=2")
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if ": balanced draws " in line]
    assert [line.split(":")[0] for line in lines] == ["epoch 1", "epoch 2"]
    digests = {line.rsplit("(draws ", 1)[1] for line in lines}
    assert len(digests) == 2  # new draws each epoch
    for line in lines:
        shares = dict(part.rsplit(" ", 1) for part in line.split("balanced draws ")[1].split(" (")[0].split(", "))
        assert abs(int(shares["small"].rstrip("%")) - 50) <= 35  # 5 of 20 utterances, drawn about half the time
