"""The experiment folder's files: SpeechBrain's contents, written atomically (issue 17)."""

import os

import pytest
import speechbrain as sb

import custom_modules.outputs.atomic as atomic
from custom_modules.outputs.experiment_directory import create_experiment_directory

YAML = "seed: 3\nlr: 0.001\noutput_folder: !ref results/<seed>\nsizes: [1, 2]\n"


@pytest.fixture
def hparams_file(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text(YAML)
    return str(path)


def test_same_files_and_contents_as_speechbrain(tmp_path, hparams_file):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    create_experiment_directory(str(ours), hparams_file, {"seed": 9}, calling_file=__file__)
    sb.create_experiment_directory(str(theirs), hyperparams_to_save=hparams_file, overrides={"seed": 9})
    assert (ours / "hyperparams.yaml").read_text() == (theirs / "hyperparams.yaml").read_text()
    assert "output_folder: results/9" in (ours / "hyperparams.yaml").read_text()
    assert (ours / os.path.basename(__file__)).read_text() == (theirs / os.path.basename(__file__)).read_text()
    assert (ours / "env.log").read_text().splitlines()[0] == (theirs / "env.log").read_text().splitlines()[0]
    assert (ours / "log.txt").is_file()


def test_interrupted_write_keeps_the_previous_hyperparams(tmp_path, hparams_file, monkeypatch):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text("previous\n")

    def killed(src, dst):
        raise KeyboardInterrupt  # stands for a kill between writing and renaming

    monkeypatch.setattr(atomic.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        create_experiment_directory(str(folder), hparams_file, calling_file=__file__)
    assert (folder / "hyperparams.yaml").read_text() == "previous\n"
    assert sorted(p.name for p in folder.iterdir()) == ["hyperparams.yaml"]  # no temporary file left
