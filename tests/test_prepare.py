"""recipes/prepare.py and custom_modules/data/preparation/: sources, validation, splits, trials, atomic output.

Tiny audio written on the fly (0.2 s files); everything runs in-process except two CLI runs.
"""

import hashlib
import itertools
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
from conftest import DEV_DATA, ROOT, write_synthetic_speakers

from custom_modules.data.dataio import DataError, read_speaker_csv
from custom_modules.data.preparation import (
    CSV_COLUMNS,
    PreparationError,
    PrepareOptions,
    detect_format,
    make_trials,
    prepare,
)
from custom_modules.scoring.trials import check_trial_ids, parse_trials

RATE = 16000
_rng = np.random.default_rng(123)


def tone(seconds=0.2, rate=RATE, channels=1):
    """Distinct random audio (no two calls give the same samples)."""
    shape = (int(seconds * rate), channels) if channels > 1 else (int(seconds * rate),)
    return (0.1 * _rng.standard_normal(shape)).astype("float32")


def write_folder(root, speakers=5, utterances=4, ext="wav", nested=False, prefix="spk"):
    """``root/<spk>/[sess/]u<i>.<ext>``; returns the sorted IDs."""
    ids = []
    for s in range(speakers):
        for u in range(utterances):
            rel = os.path.join(f"{prefix}{s}", f"sess{u % 2}" if nested else "", f"u{u}.{ext}")
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            sf.write(path, tone(), RATE)
            ids.append(os.path.splitext(os.path.normpath(rel))[0])
    return sorted(ids)


def digest(folder):
    """SHA-256 over every file name and content below ``folder`` (input-unchanged checks)."""
    h = hashlib.sha256()
    for base, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(base, name)
            h.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as handle:
                h.update(handle.read())
    return h.hexdigest()


def run(source, output, **kwargs):
    kwargs.setdefault("min_seconds", 0.1)
    return prepare(PrepareOptions(source=str(source), output=str(output), **kwargs), log=lambda _: None)


def outputs(folder):
    """name -> rows for each CSV present, with the columns checked."""
    found = {}
    for name in ("train", "valid", "test"):
        path = os.path.join(folder, f"{name}.csv")
        if os.path.exists(path):
            with open(path) as handle:
                assert handle.readline().strip() == ",".join(CSV_COLUMNS)
            found[name] = read_speaker_csv(path)
    return found


def check_consistent(folder, expected_ids=None):
    """Splits disjoint (IDs, and speakers for train/test), valid closed-set, trials over test IDs."""
    csvs = outputs(folder)
    ids = [r["ID"] for rows in csvs.values() for r in rows]
    assert len(ids) == len(set(ids))
    if expected_ids is not None:
        assert sorted(ids) == sorted(expected_ids)
    spk = {name: {r["spk_id"] for r in rows} for name, rows in csvs.items()}
    assert not spk["train"] & spk.get("test", set())
    assert spk.get("valid", set()) <= spk["train"]
    for rows in csvs.values():
        for r in rows:
            wav = r["wav"] if os.path.isabs(r["wav"]) else os.path.join(folder, r["wav"])
            assert os.path.isfile(wav)
            assert int(r["stop"]) > int(r["start"]) >= 0
    if "test" in csvs:
        trials = parse_trials(os.path.join(folder, "trials.txt"))
        check_trial_ids(trials, {r["ID"] for r in csvs["test"]})
        assert sum(t.label for t in trials) * 2 == len(trials)
    return csvs


# --------------------------------------------------------------------------- sources
def test_csv_source_with_fallback_columns_relative_paths_and_segments(tmp_path):
    csv_path = write_synthetic_speakers(str(tmp_path / "src"), speakers=5, utterances=4, seconds=0.2)
    with open(csv_path, "a") as handle:  # two segments of one file, by a CSV with ID column
        handle.write(f"spk0/seg_a,0.1,{tmp_path}/src/wav/spk0/u0.wav,0,1600,spk0\n")
    before = digest(tmp_path / "src")
    result = run(csv_path, tmp_path / "out", test_speakers=2, trials_count=40)
    assert result.format == "csv"
    csvs = check_consistent(str(tmp_path / "out"))
    rows = {r["ID"]: r for rows in csvs.values() for r in rows}
    assert rows["spk0/seg_a"]["stop"] == "1600" and rows["spk0/seg_a"]["duration"] == "0.100"
    assert rows["spk1/u2"]["wav"] == str(tmp_path / "src" / "wav" / "spk1" / "u2.wav")  # absolute
    assert len(csvs["test"]) in (8, 9) and len({r["spk_id"] for r in csvs["test"]}) == 2
    assert digest(tmp_path / "src") == before

    # speaker,path columns (no ID column): IDs from the path below the speaker's folder
    src = tmp_path / "plain"
    write_folder(str(src / "audio"), speakers=4, utterances=3)
    lines = ["speaker,path"] + [f"spk{s},audio/spk{s}/u{u}.wav" for s in range(4) for u in range(3)]
    lines += ["extra,/abs/missing.wav"]
    (src / "list.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(PreparationError, match="missing.wav: file not found"):
        run(src / "list.csv", tmp_path / "out2", test_speakers=0)
    result = run(src / "list.csv", tmp_path / "out2", test_speakers=0, drop_bad=True)
    assert sorted(r["ID"] for r in result.train + result.valid) == [f"spk{s}/u{u}" for s in range(4) for u in range(3)]
    assert not os.path.exists(tmp_path / "out2" / "test.csv")


def test_folder_source_reads_wav_and_flac_recursively(tmp_path):
    ids = write_folder(str(tmp_path / "src"), speakers=3, utterances=4, nested=True)
    ids += write_folder(str(tmp_path / "src"), speakers=3, utterances=3, ext="flac", prefix="fl")
    (tmp_path / "src" / "README.txt").write_text("not audio")
    assert detect_format(str(tmp_path / "src")) == "folder"
    result = run(tmp_path / "src", tmp_path / "out", test_speakers=2)
    check_consistent(str(tmp_path / "out"), expected_ids=ids)
    assert "spk0/sess1/u1" in ids  # nesting kept in the ID
    flac_rows = [r for r in result.train + result.valid + result.test if r["wav"].endswith(".flac")]
    assert len(flac_rows) == 9 and all(r["stop"] == "3200" for r in flac_rows)
    assert any("README.txt" in note for note in result.notes)


def test_kaldi_source_and_piped_commands(tmp_path):
    write_folder(str(tmp_path / "audio"), speakers=4, utterances=3)
    kaldi = tmp_path / "data" / "train"
    kaldi.mkdir(parents=True)
    scp = [f"spk{s}-u{u} {tmp_path}/audio/spk{s}/u{u}.wav" for s in range(4) for u in range(3)]
    scp.append("spk0-p sox in.wav -t wav - |")
    (kaldi / "wav.scp").write_text("\n".join(scp) + "\n")
    (kaldi / "utt2spk").write_text(
        "".join(f"spk{s}-u{u} spk{s}\n" for s in range(4) for u in range(3)) + "spk0-p spk0\n"
    )
    assert detect_format(str(kaldi)) == "kaldi"
    with pytest.raises(PreparationError, match=r"wav.scp: line 13: piped command for 'spk0-p' is not supported"):
        run(kaldi, tmp_path / "out", test_speakers=0)
    assert not os.path.exists(tmp_path / "out")
    result = run(kaldi, tmp_path / "out", test_speakers=0, drop_bad=True)
    assert sorted(r["ID"] for r in result.train + result.valid)[:2] == ["spk0/spk0-u0", "spk0/spk0-u1"]
    assert (
        len(result.train + result.valid) == 12 and "piped command" in (tmp_path / "out" / "data_report.md").read_text()
    )
    # segments: wav.scp lists recordings
    (kaldi / "wav.scp").write_text(f"rec {tmp_path}/audio/spk0/u0.wav\nrec1 {tmp_path}/audio/spk1/u0.wav\n")
    (kaldi / "segments").write_text("a1 rec 0.0 0.1\na2 rec 0.1 0.2\nb1 rec1 0 0.1\nb2 rec1 0.1 -1\n")
    (kaldi / "utt2spk").write_text("a1 A\na2 A\nb1 B\nb2 B\n")
    result = run(kaldi, tmp_path / "seg", test_speakers=0, valid_fraction=0)
    assert [(r["ID"], r["start"], r["stop"]) for r in result.train] == [
        ("A/a1", "0", "1600"),
        ("A/a2", "1600", "3200"),
        ("B/b1", "0", "1600"),
        ("B/b2", "1600", "3200"),
    ]


def write_voxceleb(root, speakers=6, videos=2, per_video=2):
    ids = []
    for s in range(speakers):
        for v in range(videos):
            for u in range(per_video):
                rel = f"id1000{s}/vid{v}/0000{u}"
                os.makedirs(os.path.join(root, "wav", os.path.dirname(rel)), exist_ok=True)
                sf.write(os.path.join(root, "wav", rel + ".wav"), tone(), RATE)
                ids.append(rel)
    return ids


def test_voxceleb_with_and_without_official_trials(tmp_path):
    ids = write_voxceleb(str(tmp_path / "vox"))
    assert detect_format(str(tmp_path / "vox")) == "voxceleb"
    result = run(tmp_path / "vox", tmp_path / "drawn", test_speakers=2)
    check_consistent(str(tmp_path / "drawn"), expected_ids=ids)
    assert all(r["ID"].count("/") == 2 for r in result.train)  # <spk>/<video>/<utt>
    official = [
        "1 id10004/vid0/00000.wav id10004/vid1/00001.wav",
        "0 id10004/vid0/00000.wav id10005/vid0/00001.wav",
        "1 id10005/vid0/00000.wav id10005/vid1/00000.wav",
        "0 id10005/vid1/00001.wav id10004/vid1/00000.wav",
    ]
    (tmp_path / "veri_test.txt").write_text("\n".join(official) + "\n")
    before = digest(tmp_path / "vox")
    result = run(tmp_path / "vox", tmp_path / "given", trials=str(tmp_path / "veri_test.txt"))
    assert (tmp_path / "given" / "trials.txt").read_text().splitlines() == official
    assert {r["spk_id"] for r in result.test} == {"id10004", "id10005"}
    assert len(result.test) == 8  # every utterance of the trial speakers ...
    assert not {"id10004", "id10005"} & {r["spk_id"] for r in result.train + result.valid}  # ... removed from training
    check_consistent(str(tmp_path / "given"))
    assert digest(tmp_path / "vox") == before
    # a trial naming an utterance that does not exist
    (tmp_path / "bad_trials.txt").write_text(official[0] + "\n0 id10004/vid0/00000.wav id10005/vid9/00009.wav\n")
    with pytest.raises(PreparationError, match=r"trial 2: id10005/vid9/00009 \(not in the source\)"):
        run(tmp_path / "vox", tmp_path / "bad", trials=str(tmp_path / "bad_trials.txt"))


# --------------------------------------------------------------------------- validation
def test_every_bad_file_is_reported_at_once_and_input_is_unchanged(tmp_path):
    src = tmp_path / "src"
    write_folder(str(src), speakers=4, utterances=3)
    (src / "spk0" / "corrupt.wav").write_bytes(b"RIFF\x00\x00not a wav")
    sf.write(str(src / "spk1" / "silent.wav"), np.zeros(3200, dtype="float32"), RATE)
    nan = tone()
    nan[5] = np.nan
    sf.write(str(src / "spk2" / "nan.wav"), nan, RATE, subtype="FLOAT")
    sf.write(str(src / "spk3" / "empty.wav"), np.zeros(0, dtype="float32"), RATE)
    sf.write(str(src / "spk3" / "rate8k.wav"), tone(rate=8000), 8000)
    sf.write(str(src / "spk2" / "stereo.wav"), tone(channels=2), RATE)
    sf.write(str(src / "spk0" / "short.wav"), tone(seconds=0.05), RATE)
    copy = (tone() * 32767).astype(np.int16)  # int16: the same PCM in both files
    sf.write(str(src / "spk0" / "dup.wav"), copy, RATE)
    sf.write(str(src / "spk1" / "dup.flac"), copy, RATE)  # same samples, other speaker, other format
    before = digest(src)
    with pytest.raises(PreparationError) as caught:
        run(src, tmp_path / "out", test_speakers=0)
    message = str(caught.value)
    expected = {
        "unreadable": "corrupt.wav",
        "silent": "silent.wav",
        "nonfinite": "nan.wav",
        "empty": "empty.wav",
        "sample_rate": "rate8k.wav",
        "channels": "stereo.wav",
    }
    kinds = {p.kind: p for p in caught.value.problems}
    for kind, name in expected.items():
        assert kinds[kind].file.endswith(name) and name in message
    duplicates = sorted(os.path.basename(p.file) for p in caught.value.problems if p.kind == "duplicate_audio")
    assert duplicates == ["dup.flac", "dup.wav"]
    assert "short.wav" not in message  # short files are not an error
    assert "unreadable or corrupt audio (1):" in message and "all-silent audio (1):" in message
    assert not os.path.exists(tmp_path / "out") and os.listdir(tmp_path) == ["src"]  # no output, no temp folder
    # fixed by conversion options, the rest dropped
    result = run(src, tmp_path / "out", test_speakers=0, drop_bad=True, resample=True, downmix=True, min_seconds=0.1)
    rows = {r["ID"]: r for r in result.train + result.valid}
    assert rows["spk3/rate8k"]["wav"] == "audio/spk3/rate8k.wav" and rows["spk3/rate8k"]["stop"] == "3200"
    assert sf.info(str(tmp_path / "out" / "audio" / "spk3" / "rate8k.wav")).samplerate == RATE
    assert sf.info(str(tmp_path / "out" / "audio" / "spk2" / "stereo.wav")).channels == 1
    assert "spk0/short" in rows
    for gone in ("spk0/corrupt", "spk1/silent", "spk2/nan", "spk3/empty", "spk0/dup", "spk1/dup"):
        assert gone not in rows
    report = (tmp_path / "out" / "data_report.md").read_text()
    assert (
        "corrupt.wav" in report and "| all-silent audio | 1 |" in report and "| same audio under two speakers" in report
    )
    check_consistent(str(tmp_path / "out"))
    # --drop_short
    result = run(
        src,
        tmp_path / "short",
        test_speakers=0,
        drop_bad=True,
        resample=True,
        downmix=True,
        min_seconds=0.1,
        drop_short=True,
    )
    assert "spk0/short" not in {r["ID"] for r in result.train + result.valid}
    assert "| shorter than 0.1 s (--drop_short) | 1 |" in (tmp_path / "short" / "data_report.md").read_text()
    assert digest(src) == before


def test_dataset_level_problems_stop_even_with_drop_bad(tmp_path):
    src = tmp_path / "src"
    write_folder(str(src), speakers=3, utterances=2)
    os.makedirs(src / "bad name")
    sf.write(str(src / "bad name" / "u0.wav"), tone(), RATE)
    with pytest.raises(PreparationError, match=r"ID 'bad name/u0', speaker 'bad name'"):
        run(src, tmp_path / "out", test_speakers=0, drop_bad=True)
    # fewer than 2 training speakers
    one = tmp_path / "one"
    write_folder(str(one), speakers=1, utterances=3)
    with pytest.raises(PreparationError, match="1 training speaker.*needs at least 2"):
        run(one, tmp_path / "out", test_speakers=0)


def test_keep_splits_overlap_lonely_test_speaker_and_closed_valid(tmp_path):
    src = tmp_path / "src"
    write_folder(str(src / "a"), speakers=5, utterances=3)
    rows = ["speaker,path,split"]
    rows += [f"spk{s},a/spk{s}/u{u}.wav,{'valid' if u == 2 else 'train'}" for s in range(2) for u in range(3)]
    rows += [f"spk{s},a/spk{s}/u{u}.wav,test" for s in range(2, 4) for u in range(3)]
    rows += ["spk4,a/spk4/u0.wav,TEST"]  # a test speaker with 1 utterance: dropped from test
    (src / "split.csv").write_text("\n".join(rows) + "\n")
    result = run(src / "split.csv", tmp_path / "out", keep_splits=True)
    assert [len(result.train), len(result.valid), len(result.test)] == [4, 2, 6]
    assert any("spk4" in note and "fewer than 2" in note for note in result.notes)
    check_consistent(str(tmp_path / "out"))
    sf.write(str(src / "a" / "spk0" / "extra.wav"), tone(), RATE)
    (src / "overlap.csv").write_text("\n".join(rows + ["spk0,a/spk0/extra.wav,test", "spk0,a/spk0/u1.wav,test"]) + "\n")
    with pytest.raises(PreparationError, match=r"speaker\(s\) in both train and test: spk0") as caught:
        run(src / "overlap.csv", tmp_path / "out2", keep_splits=True, drop_bad=True)
    assert [p.kind for p in caught.value.problems] == ["duplicate_id", "split"]  # both reported at once
    (src / "bad.csv").write_text("\n".join(rows + ["spk9,a/spk0/u1.wav,holdout"]) + "\n")
    with pytest.raises(PreparationError, match="split 'holdout'"):
        run(src / "bad.csv", tmp_path / "out3", keep_splits=True)


# --------------------------------------------------------------------------- trials and determinism
def test_trials_balanced_spread_unique_and_deterministic():
    sizes = {"a": 10, "b": 7, "c": 12, "d": 3, "e": 9}
    utts = {s: [f"{s}/{i}" for i in range(n)] for s, n in sizes.items()}
    speaker = lambda uid: uid.split("/")[0]  # noqa: E731
    trials = make_trials(utts, count=120, seed=5)
    targets = [t for t in trials if t.label == 1]
    assert len(targets) == 60 and len(trials) == 120
    per_speaker = Counter(speaker(t.enrol) for t in targets)
    assert per_speaker["d"] == 3  # capped: 3 utterances give 3 pairs
    assert max(per_speaker.values()) - min(v for s, v in per_speaker.items() if s != "d") <= 1
    per_pair = Counter(frozenset((speaker(t.enrol), speaker(t.test))) for t in trials if t.label == 0)
    assert len(per_pair) == 10 and max(per_pair.values()) - min(per_pair.values()) <= 1
    assert all(speaker(t.enrol) == speaker(t.test) for t in targets)
    unordered = [frozenset((t.enrol, t.test)) for t in trials]
    assert len(set(unordered)) == len(unordered) and all(len(p) == 2 for p in unordered)
    assert trials == make_trials(dict(reversed(list(utts.items()))), count=120, seed=5)
    assert trials != make_trials(utts, count=120, seed=6)
    # capped by what exists, still balanced; each pair at most once
    small = {"x": ["x/1", "x/2", "x/3"], "y": ["y/1", "y/2"]}
    capped = make_trials(small, count=6000)
    assert sum(t.label for t in capped) == 4 and len(capped) == 8
    every = make_trials(small, all_pairs=True)
    assert len(every) == 10 and sum(t.label for t in every) == 4
    assert {frozenset(p) for p in itertools.combinations(["x/1", "x/2", "x/3", "y/1", "y/2"], 2)} == {
        frozenset((t.enrol, t.test)) for t in every
    }


def test_same_seed_same_files_other_seed_other_split(tmp_path):
    write_folder(str(tmp_path / "src"), speakers=8, utterances=5)
    names = ["train.csv", "valid.csv", "test.csv", "trials.txt", "data_report.md"]
    for out, seed in (("a", 7), ("b", 7), ("c", 8)):
        run(tmp_path / "src", tmp_path / out, seed=seed, test_speakers=3, trials_count=100)
    read = lambda out: [(tmp_path / out / n).read_bytes() for n in names]  # noqa: E731
    assert read("a") == read("b")
    assert read("a")[:4] != read("c")[:4]


# --------------------------------------------------------------------------- output handling
def test_output_is_atomic_and_never_overwritten_without_flag(tmp_path):
    write_folder(str(tmp_path / "src"), speakers=4, utterances=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="exists and is not empty; pass --overwrite"):
        run(tmp_path / "src", out, test_speakers=0)
    assert os.listdir(out) == ["keep.txt"]
    # a failing run with --overwrite leaves the old output as it was, and no temporary folder
    (tmp_path / "src" / "spk0" / "broken.wav").write_bytes(b"junk")
    with pytest.raises(PreparationError, match="broken.wav"):
        run(tmp_path / "src", out, test_speakers=0, overwrite=True)
    assert os.listdir(out) == ["keep.txt"] and sorted(os.listdir(tmp_path)) == ["out", "src"]
    run(tmp_path / "src", out, test_speakers=0, overwrite=True, drop_bad=True)
    assert sorted(os.listdir(out)) == ["data_report.md", "train.csv", "valid.csv"]
    assert sorted(os.listdir(tmp_path)) == ["out", "src"]
    with pytest.raises(DataError, match="inside the source folder"):
        run(tmp_path / "src", tmp_path / "src" / "prepared", test_speakers=0)
    # an output that cannot be created is refused before any audio is read
    (tmp_path / "a_file").write_text("not a folder")
    import custom_modules.data.preparation as preparation

    reads = []
    originals = {name: getattr(preparation.sf, name) for name in ("info", "read", "SoundFile")}
    for name, original in originals.items():
        setattr(preparation.sf, name, lambda *a, _f=original, **k: reads.append(a) or _f(*a, **k))
    try:
        with pytest.raises(DataError, match=f"{tmp_path / 'a_file'} is not a writable folder; choose another --output"):
            run(tmp_path / "src", tmp_path / "a_file" / "prepared", test_speakers=0)
    finally:
        for name, original in originals.items():
            setattr(preparation.sf, name, original)
    assert reads == []
    # --copy_audio: a self-contained output with relative paths
    result = run(tmp_path / "src", tmp_path / "copied", test_speakers=0, drop_bad=True, copy_audio=True)
    assert all(r["wav"].startswith("audio/") for r in result.train)
    check_consistent(str(tmp_path / "copied"))


# --------------------------------------------------------------------------- command line
def test_cli_reports_all_bad_files_then_prepares_with_drop_bad(tmp_path):
    src = tmp_path / "src"
    write_folder(str(src / "audio"), speakers=4, utterances=3)
    (src / "audio" / "corrupt.wav").write_bytes(b"RIFF\x00\x00not a wav")
    sf.write(str(src / "audio" / "silent.wav"), np.zeros(3200, dtype="float32"), RATE)
    lines = ["speaker,path"] + [f"spk{s},audio/spk{s}/u{u}.wav" for s in range(4) for u in range(3)]
    lines += ["spk0,audio/corrupt.wav", "spk1,audio/missing.wav", "spk2,audio/silent.wav"]
    (src / "data.csv").write_text("\n".join(lines) + "\n")
    before = digest(src)
    cmd = [
        sys.executable,
        "recipes/prepare.py",
        "--source",
        str(src / "data.csv"),
        "--output",
        str(tmp_path / "out"),
        "--min_seconds",
        "0.1",
    ]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 1
    for name in ("corrupt.wav", "missing.wav", "silent.wav"):
        assert name in first.stderr
    assert "--drop_bad" in first.stderr and not os.path.exists(tmp_path / "out")
    second = subprocess.run(
        cmd + ["--drop_bad", "--test_speakers", "2"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stderr
    assert "trials.txt: 12 trials (6 target, 6 non-target)" in second.stdout
    assert "--data_folder=" + str(tmp_path / "out") in second.stdout
    assert digest(src) == before
    check_consistent(str(tmp_path / "out"))


# --------------------------------------------------------------------------- the dev set
@pytest.mark.skipif(
    not os.path.isdir(os.path.join(DEV_DATA, "wav")), reason="dev data (../shared/data/dev) not present"
)
def test_dev_set_as_folder_source(tmp_path):
    result = run(os.path.join(DEV_DATA, "wav"), tmp_path / "dev", min_seconds=1.0)
    csvs = check_consistent(str(tmp_path / "dev"))
    everything = [r for rows in csvs.values() for r in rows]
    assert len(everything) == 1368 and len({r["spk_id"] for r in everything}) == 22
    with open(os.path.join(DEV_DATA, "train.csv")) as handle:
        dev_ids = {line.split(",")[0] for line in handle.read().splitlines()[1:]}
    assert dev_ids <= {r["ID"] for r in everything}  # the same ID scheme as the dev CSVs
    assert len(result.trials) == 6000 and not result.dropped
