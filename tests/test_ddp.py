"""Two-process DistributedDataParallel training on the CPU (torchrun, gloo)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    "--m_channels=4",
    "--embedding_dim=16",
    "--n_features=40",
    "--batch_size=4",
    "--crop_seconds=0.3",
    "--num_workers=0",
    "--noprogressbar",
    "--valid_fraction=0.2",
]


def torchrun(data, out, *extra):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29517",
        "recipes/train.py",
        "hparams/res2net_am_demo.yaml",
        f"--data_folder={data}",
        f"--output_folder={out}",
        "--distributed_backend=gloo",
        *TINY,
        *extra,
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def records(out):
    with open(os.path.join(out, "metrics.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def test_two_ranks_stay_identical_count_every_sample_and_resume(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    first = torchrun(tiny_dataset, out, "--number_of_epochs=1")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "parameters identical across 2 ranks" in first.stdout
    assert "batch 4 x 2 process(es) = 8 per step" in first.stdout
    logged = records(out)
    assert len(logged) == 1  # only the main process writes
    # 20 training utterances split over 2 ranks: the epoch accuracy counts all 20, not 10
    assert logged[0]["train"]["samples"] == 20
    assert logged[0]["train"]["acc"] == logged[0]["train"]["correct"] / 20
    assert logged[0]["valid"]["samples"] == 4  # the 4 held-out utterances, counted once
    second = torchrun(tiny_dataset, out, "--number_of_epochs=2")
    assert second.returncode == 0, second.stderr[-3000:]
    assert [r["epoch"] for r in records(out)] == [1, 2]
    assert "Loading a checkpoint from" in second.stdout + second.stderr


def test_ddp_options_without_torchrun_give_the_right_command(tiny_dataset, tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "recipes/train.py",
            "hparams/res2net_am_demo.yaml",
            f"--data_folder={tiny_dataset}",
            f"--output_folder={tmp_path}/exp",
            "--distributed_backend=gloo",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert (
        "torchrun --nproc_per_node=2 recipes/train.py hparams/res2net_am_demo.yaml --distributed_backend=gloo"
        in run.stderr
    )
