"""Shared fixtures: a tiny synthetic speaker dataset written on the fly."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV_DATA = os.path.join(ROOT, "..", "shared", "data", "dev")


def write_synthetic_speakers(
    folder: str, speakers: int = 4, utterances: int = 6, seconds: float = 0.5, sample_rate: int = 16000, seed: int = 0
) -> str:
    """Write ``speakers`` x ``utterances`` WAVs (each speaker a distinct harmonic voice)
    and a SpeechBrain-style train.csv under ``folder``; return the CSV path."""
    rng = np.random.default_rng(seed)
    lines = ["ID,duration,wav,start,stop,spk_id"]
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    for s in range(speakers):
        f0 = 100.0 + 40.0 * s
        os.makedirs(os.path.join(folder, "wav", f"spk{s}"), exist_ok=True)
        for u in range(utterances):
            wave = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 6))
            wave = 0.1 * wave + 0.01 * rng.standard_normal(n)
            rel = f"wav/spk{s}/u{u}.wav"
            sf.write(os.path.join(folder, rel), wave.astype("float32"), sample_rate)
            lines.append(f"spk{s}/u{u},{seconds},{rel},0,{n},spk{s}")
    path = os.path.join(folder, "train.csv")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def write_synthetic_test_set(folder: str, speakers: int = 2, utterances: int = 4, seed: int = 1) -> str:
    """Write test speakers (voices unlike the training ones), test.csv and a VoxCeleb-style
    trials.txt with every pair of test utterances; return the trials path."""
    sub = os.path.join(folder, "test_audio")
    write_synthetic_speakers(sub, speakers, utterances, seconds=0.4, seed=seed)
    rows = open(os.path.join(sub, "train.csv")).read().strip().splitlines()
    header, body = rows[0], rows[1:]
    renamed = []
    for line in body:
        utt, duration, wav, start, stop, spk = line.split(",")
        renamed.append(",".join(["t" + utt, duration, "test_audio/" + wav, start, stop, "t" + spk]))
    body = renamed
    with open(os.path.join(folder, "test.csv"), "w") as handle:
        handle.write("\n".join([header] + body) + "\n")
    ids = [line.split(",")[0] for line in body]
    trials = []
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            trials.append(f"{int(a.split('/')[0] == b.split('/')[0])} {a}.wav {b}.wav")
    path = os.path.join(folder, "trials.txt")
    with open(path, "w") as handle:
        handle.write("\n".join(trials) + "\n")
    return path


@pytest.fixture
def tiny_dataset(tmp_path):
    """4 training speakers x 6 utterances of 0.5 s synthetic voices, plus 2 test speakers x 4
    utterances of 0.4 s with test.csv and trials.txt (all 28 pairs); returns the folder."""
    write_synthetic_speakers(str(tmp_path / "data"))
    write_synthetic_test_set(str(tmp_path / "data"))
    return str(tmp_path / "data")


TINY_TRAIN = [
    "--m_channels=4",
    "--embedding_dim=16",
    "--n_features=40",
    "--batch_size=4",
    "--crop_seconds=0.3",
    "--num_workers=0",
    "--noprogressbar",
    "--number_of_epochs=1",
]


@pytest.fixture(scope="session")
def tiny_experiment(tmp_path_factory):
    """A tiny Res2Net50 trained 1 epoch on the tiny dataset and evaluated on its trials;
    returns (data folder, experiment folder). Shared by the tests that only read it."""
    import subprocess

    root = tmp_path_factory.mktemp("tiny_experiment")
    data = str(root / "data")
    write_synthetic_speakers(data)
    write_synthetic_test_set(data)
    out = str(root / "exp" / "res2net_am_demo" / "1")
    for cmd in (
        [
            "recipes/train.py",
            "hparams/res2net_am_demo.yaml",
            f"--data_folder={data}",
            f"--output_folder={out}",
            *TINY_TRAIN,
        ],
        ["recipes/eval.py", "hparams/eval.yaml", f"--experiment={out}"],
    ):
        run = subprocess.run([sys.executable, *cmd], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
    return data, out


def evaluation_folder(experiment: str) -> str:
    """The one evaluation folder of ``experiment`` (``eval/<trials stem>-<content hash>``)."""
    import glob

    found = glob.glob(os.path.join(experiment, "eval", "trials-*"))
    assert len(found) == 1, found
    return found[0]
