"""A SpeechBrain pretrained-model folder (spkrec-ecapa-voxceleb layout) as one more system."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import evaluation_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The inference hyperparams of SpeechBrain's spkrec-ecapa-voxceleb, with small channels.
HPARAMS = """
pretrained_path: speechbrain/spkrec-ecapa-voxceleb
n_mels: 40
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [16, 16, 16, 16, 48]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 8
    lin_neurons: 12
mean_var_norm_emb: !new:speechbrain.processing.features.InputNormalization
    norm_type: global
    std_norm: False
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    mean_var_norm_emb: !ref <mean_var_norm_emb>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
"""


@pytest.fixture
def pretrained_folder(tmp_path):
    from hyperpyyaml import load_hyperpyyaml

    folder = tmp_path / "spkrec-random"
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text(HPARAMS)
    torch.manual_seed(0)
    model = load_hyperpyyaml(HPARAMS, {"pretrainer": None})["embedding_model"]
    torch.save(model.state_dict(), folder / "embedding_model.ckpt")
    return str(folder)


def test_load_pretrained_matches_the_saved_weights(pretrained_folder):
    from custom_modules.experiment import is_pretrained_folder, load_experiment

    assert is_pretrained_folder(pretrained_folder)
    experiment = load_experiment(pretrained_folder)
    saved = torch.load(os.path.join(pretrained_folder, "embedding_model.ckpt"), weights_only=True)
    loaded = experiment.extractor.embedding_model.state_dict()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    out = experiment.extractor(torch.randn(2, 8000), torch.ones(2))
    assert out.shape == (2, 1, 12)


def test_compare_includes_a_pretrained_folder_without_touching_it(pretrained_folder, tiny_dataset, tmp_path):
    before = sorted(os.listdir(pretrained_folder))
    run = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "recipes/compare.py"),
            pretrained_folder,
            "--name",
            "pre",
            "--data_folder",
            tiny_dataset,
            "--output_root",
            str(tmp_path / "results"),
        ],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(os.listdir(pretrained_folder)) == before
    report = json.loads((tmp_path / "results" / "pre" / "comparison.json").read_text())
    row = report["systems"][0]
    assert row["system"] == "spkrec-random" and row["training"]["epochs"] is None
    assert report["across_seeds"] == []  # a model folder is not a seed of anything
    assert 0.0 <= row["eer"] <= 1.0 and row["n_target"] == 12
    assert os.path.isfile(
        os.path.join(evaluation_folder(str(tmp_path / "exp" / "pretrained" / "spkrec-random")), "results.json")
    )


def test_corrupt_pretrained_checkpoint_names_the_file(pretrained_folder):
    from custom_modules.experiment import ExperimentError, load_experiment

    with open(os.path.join(pretrained_folder, "embedding_model.ckpt"), "wb") as handle:
        handle.write(b"truncated")
    with pytest.raises(ExperimentError, match="embedding_model.ckpt: not a state dict"):
        load_experiment(pretrained_folder)


@pytest.mark.parametrize(
    "payload",
    [
        "pwned: !apply:pathlib.Path.touch [{marker}]",
        "pwned: !new:pathlib.Path [{marker}]",  # !new: of a class outside the model classes
        "pwned: !name:os.system",
        "%TAG !x! tag:yaml.org,2002:python/\n---\npwned: !x!object/apply:os.system [touch {marker}]",
    ],
)
def test_a_model_folder_whose_yaml_runs_code_is_refused_before_anything_runs(pretrained_folder, tmp_path, payload):
    from custom_modules.experiment import ExperimentError, load_experiment

    marker = tmp_path / "pwned"
    yaml_path = os.path.join(pretrained_folder, "hyperparams.yaml")
    text = payload.format(marker=marker)
    if text.startswith("%TAG"):
        open(yaml_path, "w").write(text.split("---\n")[0] + "---\n" + HPARAMS + text.split("---\n")[1] + "\n")
    else:
        open(yaml_path, "a").write(text + "\n")
    with pytest.raises(ExperimentError, match="would run code while loading") as refused:
        load_experiment(pretrained_folder)
    assert yaml_path in str(refused.value) and "--trust_model_code" in str(refused.value)
    assert not marker.exists()
    # the command line says the same in one line, and nothing ran either
    run = subprocess.run(
        [
            sys.executable,
            "recipes/embed.py",
            "--model",
            pretrained_folder,
            "--output",
            str(tmp_path / "e.npz"),
            "--input",
            str(tmp_path / "none.wav"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0 and not marker.exists()
    assert len(run.stderr.strip().splitlines()) == 1 and "would run code while loading" in run.stderr


def test_trusting_a_model_folder_runs_its_code(pretrained_folder, tmp_path):
    from custom_modules.experiment import load_experiment

    marker = tmp_path / "ran"
    with open(os.path.join(pretrained_folder, "hyperparams.yaml"), "a") as handle:
        handle.write(f"ran: !apply:pathlib.Path.touch [{marker}]\n")
    load_experiment(pretrained_folder, trust_model_code=True)
    assert marker.exists()


@pytest.mark.parametrize("key", ["heldout_eer", "valid_eer"])
def test_checkpoint_choice_by_heldout_eer_reads_new_and_old_meta_keys(tmp_path, key):
    """The held-out EER is stored as heldout_eer (a fraction); runs made before stored valid_eer.
    eval's checkpoint=heldout_eer (and its old name eer, and auto) take the lowest either way."""
    from custom_modules.experiment import _latest_or_best_checkpoint

    for name, epoch, eer, acc in (("CKPT+a", 1, 0.30, 0.9), ("CKPT+b", 2, 0.10, 0.5), ("CKPT+c", 3, 0.20, 0.7)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "CKPT.yaml").write_text(
            f"end-of-epoch: true\nunixtime: {epoch}\nepoch: {epoch}\n{key}: {eer}\nvalid_acc: {acc}\n"
        )
    for which in ("heldout_eer", "eer", "auto"):
        assert _latest_or_best_checkpoint(str(tmp_path), which).endswith("CKPT+b"), which
    assert _latest_or_best_checkpoint(str(tmp_path), "best").endswith("CKPT+a")
    assert _latest_or_best_checkpoint(str(tmp_path), "last").endswith("CKPT+c")
