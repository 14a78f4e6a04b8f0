"""The no-learning floor system: exact statistics, and a model folder every recipe takes."""

import json
import os
import subprocess
import sys

import numpy as np
import torch

from custom_modules.models.floor import CepstralStatistics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_statistics_are_standardised_mean_and_std_over_valid_frames():
    torch.manual_seed(0)
    x = torch.randn(3, 12, 5)
    lengths = torch.tensor([1.0, 0.5, 0.25])
    floor = CepstralStatistics(5)
    train = torch.randn(50, 10) * 3 + 1
    floor.fit_global_statistics(train)
    out = floor(x, lengths).squeeze(1).numpy()
    for b, n in enumerate([12, 6, 3]):
        frames = x[b, :n].double().numpy()
        raw = np.concatenate([frames.mean(0), frames.std(0)])
        expected = (raw - train.double().numpy().mean(0)) / train.double().numpy().std(0, ddof=1)
        assert np.allclose(out[b], expected, atol=1e-5)


def test_floor_folder_is_evaluated_like_any_model(tiny_dataset, tmp_path):
    folder = str(tmp_path / "floor")
    run = subprocess.run(
        [sys.executable, os.path.join(ROOT, "recipes/floor.py"), f"--data_folder={tiny_dataset}", f"--output={folder}"],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = str(tmp_path / "eval")
    run = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "recipes/eval.py"),
            os.path.join(ROOT, "hparams/eval.yaml"),
            f"--experiment={folder}",
            f"--data_folder={tiny_dataset}",
            f"--output_folder={out}",
            "--bootstrap_resamples=50",
        ],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.load(open(os.path.join(out, "results.json")))
    assert results["n_target"] == 12 and 0.0 <= results["systems"]["none"]["eer"] <= 1.0
    emb = np.load(os.path.join(out, "embeddings.npz"))["embeddings"]
    assert emb.shape == (8, 40)  # mean + std of 20 MFCCs
    again = subprocess.run(
        [sys.executable, os.path.join(ROOT, "recipes/floor.py"), f"--data_folder={tiny_dataset}", f"--output={folder}"],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode != 0 and "not empty" in again.stderr
