"""The hparams files: baselines in sync with their source, every file loads."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(name):
    """A module of scripts/ (they are scripts, not part of the installed package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_baseline_hparams_are_up_to_date():
    baseline = load_script("make_baseline_hparams").baseline

    for source, size in (
        ("hparams/res2net_am.yaml", "full"),
        ("hparams/res2net_am_demo.yaml", "demo"),
        ("hparams/res2net_am_smalldata.yaml", "smalldata"),
    ):
        for loss in ("aam", "am"):
            name, text = baseline(source, loss, size)
            with open(os.path.join(ROOT, "hparams", f"{name}.yaml")) as handle:
                assert handle.read() == text, f"hparams/{name}.yaml is stale: run scripts/make_baseline_hparams.py"


@pytest.mark.parametrize(
    "name", ["res2net_am", "res2net_am_demo", "ecapa_aam", "ecapa_am", "ecapa_aam_demo", "ecapa_am_demo"]
)
def test_training_hparams_build_their_models(name, tiny_dataset, tmp_path):
    from hyperpyyaml import load_hyperpyyaml

    with open(os.path.join(ROOT, "hparams", f"{name}.yaml")) as handle:
        hparams = load_hyperpyyaml(handle, {"data_folder": tiny_dataset, "output_folder": str(tmp_path / "exp")})
    assert hparams["num_classes"] == 4  # counted from the CSV
    head = hparams["classifier"]
    assert head.num_classes == 4 and head.input_size == hparams["embedding_dim"]
    assert type(head).__name__ == ("AAMSoftmax" if "aam" in name else "AMSoftmax")
    assert head.scale == 30.0 and head.final_margin == 0.2
    import torch

    out = hparams["embedding_model"].eval()(torch.randn(2, 50, hparams["n_features"]), torch.ones(2))
    assert out.shape == (2, 1, hparams["embedding_dim"])


@pytest.mark.parametrize("name", ["res2net_am_smalldata", "ecapa_am_smalldata", "ecapa_aam_smalldata"])
def test_smalldata_hparams_size_the_head_for_speed_classes_and_switch_off(name, tmp_path):
    """2 of 6 speakers held out, 3 speeds: 4 x 3 = 12 classes; every change has an off switch."""
    from conftest import write_synthetic_speakers
    from hyperpyyaml import load_hyperpyyaml

    data = os.path.dirname(write_synthetic_speakers(str(tmp_path / "data"), speakers=6, utterances=3))
    base = {"data_folder": data, "output_folder": str(tmp_path / "exp"), "valid_speakers": 2}
    with open(os.path.join(ROOT, "hparams", f"{name}.yaml")) as handle:
        hparams = load_hyperpyyaml(handle, base)
    assert hparams["train_speakers"] == 4 and hparams["num_classes"] == 12 and hparams["classes_per_speaker"] == 3
    assert hparams["classifier"].num_classes == 12
    assert hparams["augmentation"].active_steps == ["speed", "noise", "babble", "reverb"]
    assert hparams["min_crop_seconds"] == 0.6 and hparams["feature_masking"].prob == 0.6
    off = {
        **base,
        "speeds": [100],
        "min_crop_seconds": None,
        "mask_prob": 0.0,
        "noise_prob": 0.0,
        "babble_prob": 0.0,
        "reverb_prob": 0.0,
        "valid_speakers": 0,
    }
    with open(os.path.join(ROOT, "hparams", f"{name}.yaml")) as handle:
        hparams = load_hyperpyyaml(handle, off)
    assert hparams["num_classes"] == 6 and hparams["classes_per_speaker"] == 1
    assert hparams["augmentation"].num_classes(6) == 6
    assert hparams["min_crop_seconds"] is None and hparams["feature_masking"].prob == 0.0
