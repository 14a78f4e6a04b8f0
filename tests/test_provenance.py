"""Provenance stamps: the project root the relative paths of committed results are taken from."""

import os

from custom_modules.outputs.provenance import PROJECT_ROOT, git_commit, project_path


def test_project_root_is_the_clone_root_wherever_the_module_lives():
    """The module moved into custom_modules/outputs/; its root must still be the clone's."""
    assert os.path.isfile(os.path.join(PROJECT_ROOT, "pyproject.toml"))
    assert os.path.isfile(os.path.join(PROJECT_ROOT, "recipes", "train.py"))
    assert project_path(os.path.join(PROJECT_ROOT, "hparams", "eval.yaml")) == "hparams/eval.yaml"
    assert git_commit() != ""
