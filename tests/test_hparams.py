"""The hparams files: baselines in sync with their source, every file loads."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def test_generated_baseline_hparams_are_up_to_date():
    from make_baseline_hparams import baseline

    for source, size in (("hparams/res2net_am.yaml", "full"), ("hparams/res2net_am_demo.yaml", "demo")):
        for loss in ("aam", "am"):
            name, text = baseline(source, loss, size)
            with open(os.path.join(ROOT, "hparams", f"{name}.yaml")) as handle:
                assert handle.read() == text, f"hparams/{name}.yaml is stale: run scripts/make_baseline_hparams.py"


@pytest.mark.parametrize("name", ["res2net_am", "res2net_am_demo", "ecapa_aam", "ecapa_am", "ecapa_aam_demo", "ecapa_am_demo"])
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
