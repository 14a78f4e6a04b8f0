"""CSV reading, validation, splits, audio reading and crops."""

import os

import numpy as np
import pytest
import soundfile as sf
import torch

from custom_modules.data.dataio import (
    DataError,
    count_speakers,
    crop_or_repeat,
    load_audio,
    read_crop,
    read_speaker_csv,
    speaker_datasets,
    split_train_valid,
)


def write(path, text):
    with open(path, "w") as handle:
        handle.write(text)
    return str(path)


def test_csv_errors_name_file_line_and_fix(tmp_path):
    with pytest.raises(DataError, match=r"nothere.csv: CSV not found.*--data_folder"):
        read_speaker_csv(str(tmp_path / "nothere.csv"))
    bad = write(tmp_path / "a.csv", "ID,path,speaker\n1,x.wav,a\n")
    with pytest.raises(DataError, match=r"a.csv: missing column\(s\) \['wav', 'spk_id'\]"):
        read_speaker_csv(bad)
    dup = write(tmp_path / "b.csv", "ID,wav,spk_id\n1,x.wav,a\n1,y.wav,b\n")
    with pytest.raises(DataError, match=r"b.csv, line 3: duplicate ID '1' \(first on line 2\)"):
        read_speaker_csv(dup)
    space = write(tmp_path / "c.csv", "ID,wav,spk_id\n1,x.wav,a b\n")
    with pytest.raises(DataError, match=r"c.csv, line 2: whitespace"):
        read_speaker_csv(space)
    empty = write(tmp_path / "d.csv", "ID,wav,spk_id\n1,,a\n")
    with pytest.raises(DataError, match=r"d.csv, line 2: empty 'wav'"):
        read_speaker_csv(empty)


def test_split_is_deterministic_disjoint_and_keeps_every_speaker():
    rows = [{"ID": f"s{s}/{u}", "spk_id": f"s{s}"} for s in range(5) for u in range(3 + s)]
    rows.append({"ID": "lonely/0", "spk_id": "lonely"})
    train, valid = split_train_valid(rows, 0.25, seed=3)
    again_train, again_valid = split_train_valid(list(reversed(rows)), 0.25, seed=3)
    assert {r["ID"] for r in valid} == {r["ID"] for r in again_valid}
    assert not {r["ID"] for r in train} & {r["ID"] for r in valid}
    assert len(train) + len(valid) == len(rows)
    assert {r["spk_id"] for r in train} == {r["spk_id"] for r in rows}
    assert "lonely" not in {r["spk_id"] for r in valid}
    per_speaker = {s: sum(r["spk_id"] == s for r in valid) for s in (f"s{i}" for i in range(5))}
    assert per_speaker == {"s0": 1, "s1": 1, "s2": 1, "s3": 2, "s4": 2}
    other = split_train_valid(rows, 0.25, seed=4)[1]
    assert {r["ID"] for r in other} != {r["ID"] for r in valid}


def test_crop_or_repeat_never_fails_on_short_input():
    x = torch.arange(5.0)
    assert crop_or_repeat(x, 12).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert crop_or_repeat(x, 5).tolist() == x.tolist()
    torch.manual_seed(0)
    crops = {tuple(crop_or_repeat(torch.arange(100.0), 10).tolist()) for _ in range(20)}
    assert len(crops) > 1 and all(c == tuple(range(int(c[0]), int(c[0]) + 10)) for c in crops)


def test_read_crop_reads_only_the_requested_window(tmp_path):
    path = str(tmp_path / "ramp.wav")
    sf.write(path, (np.arange(1000) / 1000).astype("float32"), 1000, subtype="FLOAT")
    torch.manual_seed(0)
    crop = read_crop(path, 100, start=200, stop=600)
    first = int(round(crop[0].item() * 1000))
    assert 200 <= first <= 500
    assert np.allclose(crop.numpy(), np.arange(first, first + 100) / 1000, atol=1e-6)
    centre = read_crop(path, 100, start=200, stop=600, random=False)
    assert int(round(centre[0].item() * 1000)) == 350
    short = read_crop(path, 300, start=900, stop=1000)
    assert short.shape == (300,) and np.allclose(short[100:200].numpy(), short[:100].numpy())


def test_load_audio_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"missing.wav: audio file not found"):
        load_audio(str(tmp_path / "missing.wav"))
    junk = write(tmp_path / "junk.wav", "not audio")
    with pytest.raises(DataError, match=r"junk.wav: unreadable audio"):
        load_audio(junk)
    path = str(tmp_path / "8k.wav")
    sf.write(path, np.zeros(800, dtype="float32"), 8000)
    with pytest.raises(DataError, match=r"8k.wav: sample rate 8000 Hz, expected 16000 Hz"):
        load_audio(path, sample_rate=16000)
    stereo = str(tmp_path / "stereo.wav")
    sf.write(stereo, np.stack([np.full(10, 0.5), np.full(10, -0.1)], 1).astype("float32"), 16000, subtype="FLOAT")
    assert torch.allclose(load_audio(stereo), torch.full((10,), 0.2))


def test_speaker_datasets_items_labels_and_split_files(tiny_dataset, tmp_path):
    out = str(tmp_path / "exp")
    os.makedirs(out)
    csv = os.path.join(tiny_dataset, "train.csv")
    data = speaker_datasets(tiny_dataset, csv, out, valid_fraction=0.2, crop_seconds=0.3, valid_max_seconds=0.4)
    assert count_speakers(csv) == len(data.label_encoder) == 4
    assert len(data.train) + len(data.valid) == 24 and len(data.valid) == 4
    item = data.train[0]
    assert item["sig"].shape == (4800,) and item["spk_id_encoded"].shape == (1,)
    assert data.valid[0]["sig"].shape == (6400,)  # 0.5 s centre-cropped to 0.4 s
    assert os.path.isfile(os.path.join(out, "label_encoder.txt"))
    assert len(read_speaker_csv(data.valid_csv)) == 4
    # an output folder that belongs to other speakers is refused
    other = os.path.join(tiny_dataset, "other.csv")
    write(other, "ID,wav,spk_id\n" + "\n".join(f"x{i},wav/spk0/u{i}.wav,new{i % 2}" for i in range(4)) + "\n")
    with pytest.raises(DataError, match="belongs to another dataset"):
        speaker_datasets(tiny_dataset, other, out)


def test_validation_speakers_must_be_training_speakers(tiny_dataset, tmp_path):
    valid = write(tmp_path / "valid.csv", "ID,wav,spk_id\nz,wav/spk0/u0.wav,stranger\n")
    out = str(tmp_path / "exp")
    os.makedirs(out)
    with pytest.raises(DataError, match=r"speakers \['stranger'\] are not in"):
        speaker_datasets(tiny_dataset, os.path.join(tiny_dataset, "train.csv"), out, valid_annotation=valid)


def test_diagnose_and_training_split_a_prepared_folder_the_same_way(tmp_path):
    """A recipes/prepare.py folder (train.csv 50 rows, valid.csv 10): training used valid.csv
    and all 50 training rows while diagnose's preflight split 10% off train.csv (45 / 5).
    Both now go through dataio.resolve_splits."""
    from custom_modules.data.dataio import speaker_datasets
    from custom_modules.diagnostics.preflight import read_data_rows

    folder = tmp_path / "prepared"
    folder.mkdir()
    header = "ID,wav,spk_id\n"
    (folder / "train.csv").write_text(
        header + "".join(f"s{s}/{i},wav/s{s}/{i}.wav,s{s}\n" for s in range(5) for i in range(10))
    )
    (folder / "valid.csv").write_text(
        header + "".join(f"s{s}/v{i},wav/s{s}/v{i}.wav,s{s}\n" for s in range(5) for i in range(2))
    )
    hparams = {
        "train_annotation": str(folder / "train.csv"),
        "valid_annotation": None,
        "valid_fraction": 0.1,
        "seed": 1986,
        "valid_speakers": 0,
        "data_folder": str(folder),
    }
    rows = read_data_rows(hparams)
    assert (len(rows.train), len(rows.valid)) == (50, 10) and rows.valid_source == str(folder / "valid.csv")
    data = speaker_datasets(str(folder), str(folder / "train.csv"), str(tmp_path / "out"), valid_annotation=None)
    assert (len(data.train), len(data.valid)) == (50, 10)
    # without valid.csv both hold out 10% of each speaker's utterances
    (folder / "valid.csv").unlink()
    rows = read_data_rows(hparams)
    data = speaker_datasets(str(folder), str(folder / "train.csv"), str(tmp_path / "out2"), valid_annotation=None)
    assert (len(rows.train), len(rows.valid)) == (len(data.train), len(data.valid)) == (45, 5)


def test_label_encoder_and_split_files_are_written_atomically(tiny_dataset, tmp_path, monkeypatch):
    """A kill between writing and renaming leaves no label_encoder.txt or split CSV, so the
    rerun builds them afresh instead of reading a truncated file (issue 17)."""
    from speechbrain.dataio.encoder import CategoricalEncoder

    import custom_modules.outputs.atomic as atomic

    out = str(tmp_path / "exp")
    csv = os.path.join(tiny_dataset, "train.csv")

    def killed(src, dst):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(atomic.os, "replace", killed)
        with pytest.raises(KeyboardInterrupt):
            speaker_datasets(tiny_dataset, csv, out, valid_fraction=0.2)
    assert not os.path.exists(out) or os.listdir(out) == []
    data = speaker_datasets(tiny_dataset, csv, out, valid_fraction=0.2)
    reference = CategoricalEncoder()  # what SpeechBrain's load_or_create makes
    reference.update_from_iterable(sorted({row["spk_id"] for row in read_speaker_csv(csv)}))
    assert data.label_encoder.lab2ind == reference.lab2ind
    reloaded = speaker_datasets(tiny_dataset, csv, out, valid_fraction=0.2)  # a resumed run reads it back
    assert reloaded.label_encoder.lab2ind == reference.lab2ind
