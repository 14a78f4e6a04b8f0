"""The old import paths (before custom_modules was grouped by topic) still load the same objects:
committed hparams, results and exported models name them (issue 18)."""

import configparser
import glob
import importlib
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shim_names():
    return sorted(
        os.path.basename(path)[:-3]
        for path in glob.glob(os.path.join(ROOT, "custom_modules", "*.py"))
        if "sys.modules[__name__] = _module" in open(path).read()
    )


def test_every_alias_is_the_module_it_names_and_is_left_out_of_doctest_collection():
    names = shim_names()
    assert {"res2net", "am_softmax", "floor", "dataio", "augmentation", "features", "schedules"} <= set(names)
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "pytest.ini"))
    ignored = set(re.findall(r"--ignore=custom_modules/(\w+)\.py", config["pytest"]["addopts"]))
    assert ignored == set(names)
    for name in names:
        old = importlib.import_module(f"custom_modules.{name}")
        assert old.__name__.count(".") == 2, old.__name__  # custom_modules.<topic>.<name>
        assert old.__name__.endswith("." + name)


def test_names_used_by_committed_files_resolve_to_the_grouped_classes():
    from custom_modules.models.am_softmax import AMSoftmax
    from custom_modules.models.floor import CepstralStatistics
    from custom_modules.models.res2net import Res2Net50

    assert importlib.import_module("custom_modules.res2net").Res2Net50 is Res2Net50
    assert importlib.import_module("custom_modules.am_softmax").AMSoftmax is AMSoftmax
    assert importlib.import_module("custom_modules.floor").CepstralStatistics is CepstralStatistics
    used = set()
    for path in glob.glob(os.path.join(ROOT, "results", "**", "*.yaml"), recursive=True):
        used |= set(re.findall(r"custom_modules\.(\w+)\.(\w+)", open(path).read()))
    if not used:
        pytest.skip("no committed hparams under results/")
    for module, name in sorted(used):
        assert hasattr(importlib.import_module(f"custom_modules.{module}"), name), f"custom_modules.{module}.{name}"


def test_a_committed_training_hparams_file_still_builds(tiny_dataset, tmp_path):
    """A committed hyperparams.yaml (references resolved when it was saved, so its data and
    output paths are those of the machine that ran it) builds its Res2Net50 through the old
    path once those paths point at a tiny dataset and a temporary folder."""
    from hyperpyyaml import load_hyperpyyaml

    paths = sorted(glob.glob(os.path.join(ROOT, "results", "**", "res2net_am_smalldata*.yaml"), recursive=True))
    paths = [p for p in paths if "custom_modules.res2net.Res2Net50" in open(p).read()]
    if not paths:
        pytest.skip("no committed Res2Net50 hparams under results/")
    text = open(paths[0]).read()
    data = re.search(r"^data_folder: (\S+)", text, flags=re.MULTILINE).group(1)
    output = re.search(r"^output_folder: (\S+)", text, flags=re.MULTILINE).group(1)
    text = text.replace(output, str(tmp_path / "exp")).replace(data, tiny_dataset)
    hparams = load_hyperpyyaml(text)
    from custom_modules.models.res2net import Res2Net50

    assert isinstance(hparams["embedding_model"], Res2Net50)
    assert hparams["train_annotation"] == os.path.join(tiny_dataset, "train.csv")
