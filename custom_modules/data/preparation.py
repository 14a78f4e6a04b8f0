"""Bring your own data: read a speaker dataset, validate every file, split it, write trials.

Used by ``recipes/prepare.py``. The output folder holds what ``recipes/train.py`` and
``recipes/eval.py`` read as they are:

- ``train.csv``, ``valid.csv`` (held-out utterances of the training speakers, closed set),
  ``test.csv`` (speakers disjoint from training, open set), all with the columns
  ``ID,duration,wav,start,stop,spk_id`` (``start``/``stop`` in samples, ``wav`` an absolute
  path, or relative to the output folder for copies written under ``audio/``);
- ``trials.txt`` in the VoxCeleb format ``1|0 <enrol ID>.wav <test ID>.wav``;
- ``data_report.md``: speakers, utterances, durations, sample rates, what was dropped and why.

Sources (:func:`detect_format` picks one; ``format`` forces it):

``csv``
    A CSV with a speaker column (``speaker``, else ``spk_id``) and an audio-path column
    (``path``, else ``wav``); paths relative to the CSV's folder (or ``$data_root/...``) or
    absolute; optional ``ID``, ``start``, ``stop`` (samples) and ``split`` columns.
``folder``
    One sub-folder per speaker, ``.wav``/``.flac`` files found recursively below it.
``kaldi``
    A Kaldi data dir: ``wav.scp`` (plain paths; piped commands are refused), ``utt2spk``
    and optionally ``segments``.
``voxceleb``
    ``<root>/wav/<spk>/<video>/<utt>.wav`` (read like a folder source below ``wav/``).

Utterance IDs are ``<spk>/<path below the speaker folder, without extension>`` (so
``<spk>/<video>/<utt>`` for VoxCeleb, as in its official trial lists), ``<spk>/<utt>`` for
Kaldi, and for a CSV the ``ID`` column (prefixed with ``<spk>/`` unless it already starts so)
or the audio path below the CSV's folder (below the speaker's folder when the path has one).

Every problem is collected before anything is decided, and reported at once grouped by kind
(:data:`PROBLEM_KINDS`), each with its file and reason. Problems of a single utterance
(missing, corrupt, silent, NaN/Inf, wrong rate, ...) stop the preparation unless
``drop_bad`` is set, in which case those utterances are left out and listed in the report;
problems of the dataset as a whole (whitespace in names, duplicate IDs, overlapping
splits, too few speakers) always stop it. The input is only read; the output folder is
written into a temporary sibling and renamed into place.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import shutil
import statistics
import tempfile
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields
from typing import Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

import numpy as np
import soundfile as sf

from custom_modules.data.dataio import (
    DataError,
    read_speaker_csv,
    resolve_audio_path,
    split_train_valid,
    write_speaker_csv,
)
from custom_modules.outputs.atomic import atomic_path
from custom_modules.scoring.trials import Trial, check_trial_ids, parse_trials

__all__ = [
    "FORMATS",
    "PROBLEM_KINDS",
    "AUDIO_EXTENSIONS",
    "CSV_COLUMNS",
    "Utterance",
    "AudioInfo",
    "Problem",
    "PrepareOptions",
    "PrepareResult",
    "PreparationError",
    "detect_format",
    "read_csv_source",
    "read_folder_source",
    "read_kaldi_source",
    "read_voxceleb_source",
    "inspect_audio",
    "choose_test_speakers",
    "publish_folder",
    "spread_evenly",
    "make_trials",
    "write_trials",
    "format_problems",
    "prepare",
]

FORMATS = ("csv", "folder", "kaldi", "voxceleb")
AUDIO_EXTENSIONS = (".wav", ".flac")
CSV_COLUMNS = ("ID", "duration", "wav", "start", "stop", "spk_id")
SPLIT_NAMES = {
    "train": "train",
    "valid": "valid",
    "validation": "valid",
    "dev": "valid",
    "test": "test",
    "eval": "test",
}

#: kind -> (heading, droppable). Droppable problems concern one utterance (or trial) and are
#: left out with ``drop_bad``; the others concern the dataset and always stop preparation.
PROBLEM_KINDS: Dict[str, Tuple[str, bool]] = {
    "whitespace": ("ID or speaker name with whitespace (trial lists are whitespace-separated; rename them)", False),
    "duplicate_id": ("duplicate utterance ID", False),
    "source": ("unusable source entry", True),
    "missing": ("missing file", True),
    "unreadable": ("unreadable or corrupt audio", True),
    "empty": ("empty audio", True),
    "silent": ("all-silent audio", True),
    "nonfinite": ("NaN/Inf samples", True),
    "segment": ("start/stop outside the file", True),
    "sample_rate": ("sample rate (pass --resample to write converted copies)", True),
    "channels": ("multi-channel audio (pass --downmix to write mono copies)", True),
    "duplicate_audio": ("same audio under two speakers (every copy is affected)", True),
    "split_value": ("unknown split value (use train, valid or test)", True),
    "trials": ("trial list entry not in the prepared test set", True),
    "split": ("inconsistent splits", False),
    "speakers": ("too few speakers", False),
}


class Utterance(NamedTuple):
    """One utterance of the source: where its audio is and who speaks.

    ``origin`` (e.g. ``data.csv line 5``) says where it was listed, for messages.
    """

    id: str
    spk_id: str
    path: str
    start: Optional[int] = None
    stop: Optional[int] = None
    split: Optional[str] = None
    origin: str = ""


class AudioInfo(NamedTuple):
    """What :func:`inspect_audio` found in a readable, non-empty, non-silent segment."""

    sample_rate: int
    channels: int
    start: int
    stop: int
    peak: float
    sha1: str
    subtype: str

    @property
    def samples(self) -> int:
        return self.stop - self.start

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate


class Problem(NamedTuple):
    """One problem: its kind (a key of :data:`PROBLEM_KINDS`), the file and the reason."""

    kind: str
    file: str
    reason: str

    @property
    def droppable(self) -> bool:
        return PROBLEM_KINDS[self.kind][1]


class PreparationError(DataError):
    """The input has problems that stop the preparation; ``problems`` lists them all."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()):
        super().__init__(message)
        self.problems = list(problems)


@dataclass
class PrepareOptions:
    """Settings of :func:`prepare` (the command-line options of ``recipes/prepare.py``)."""

    source: str
    output: str
    format: Optional[str] = None
    speaker_column: Optional[str] = None
    path_column: Optional[str] = None
    id_column: Optional[str] = None
    split_column: str = "split"
    trials: Optional[str] = None
    keep_splits: bool = False
    valid_fraction: float = 0.1
    test_speakers: Optional[int] = None
    test_fraction: Optional[float] = None
    trials_count: int = 6000
    all_pairs: bool = False
    seed: int = 1986
    sample_rate: int = 16000
    resample: bool = False
    downmix: bool = False
    min_seconds: float = 1.0
    drop_short: bool = False
    drop_bad: bool = False
    silence_peak: float = 1e-4
    copy_audio: bool = False
    overwrite: bool = False
    jobs: int = 1


@dataclass
class PrepareResult:
    """What :func:`prepare` wrote: the rows of each CSV, the trials, problems and notes."""

    output: str
    format: str
    train: List[Dict[str, str]]
    valid: List[Dict[str, str]]
    test: List[Dict[str, str]]
    trials: List[Trial]
    dropped: List[Problem] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


# --------------------------------------------------------------------------- sources
def detect_format(source: str) -> str:
    """The source format from what ``source`` is.

    A file is a CSV (a ``wav.scp`` file means its Kaldi folder); a folder with ``wav.scp`` is
    a Kaldi data dir; a folder with a ``wav/`` sub-folder is a VoxCeleb root; any other
    folder is a folder of speaker sub-folders.

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> detect_format(root)
    'folder'
    >>> os.mkdir(os.path.join(root, "wav")); detect_format(root)
    'voxceleb'
    >>> _ = open(os.path.join(root, "wav.scp"), "w"); detect_format(root)
    'kaldi'
    """
    if os.path.isfile(source):
        return "kaldi" if os.path.basename(source) == "wav.scp" else "csv"
    if not os.path.isdir(source):
        raise DataError(
            f"{source}: source not found (give a CSV, a folder of speaker folders, a Kaldi dir or a VoxCeleb root)"
        )
    if os.path.isfile(os.path.join(source, "wav.scp")):
        return "kaldi"
    if os.path.isdir(os.path.join(source, "wav")):
        return "voxceleb"
    return "folder"


def _has_whitespace(text: str) -> bool:
    return any(ch.isspace() for ch in text)


def _pick_column(
    columns: Sequence[str], wanted: Optional[str], defaults: Sequence[str], what: str, path: str, option: str
) -> str:
    candidates = [wanted] if wanted else list(defaults)
    for name in candidates:
        if name in columns:
            return name
    raise DataError(
        f"{path}: no {what} column: looked for {candidates}, found {list(columns)}; name it with {option}=<column>"
    )


def _parse_sample(value: Optional[str]) -> Optional[int]:
    if value is None or not value.strip():
        return None
    number = float(value)
    if not math.isfinite(number) or number != int(number) or number < 0:
        raise ValueError(value)
    return int(number)


def read_csv_source(
    path: str,
    speaker_column: Optional[str] = None,
    path_column: Optional[str] = None,
    id_column: Optional[str] = None,
    split_column: Optional[str] = None,
) -> Tuple[List[Utterance], List[Problem], List[str]]:
    """Utterances listed in a CSV, the problems of its rows, and notes.

    Columns: speaker (``speaker_column``, default ``speaker`` then ``spk_id``), audio path
    (``path_column``, default ``path`` then ``wav``; relative to the CSV's folder, absolute,
    or ``$data_root/...``), optional ``ID`` (``id_column``), ``start``/``stop`` (samples) and
    ``split_column`` (``split``).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "d.csv"), "w").write("speaker,path\\nann,ann/x.wav\\nbob,b1.flac\\n")
    >>> utts, problems, notes = read_csv_source(os.path.join(folder, "d.csv"))
    >>> [(u.id, u.spk_id, os.path.relpath(u.path, folder)) for u in utts], problems
    ([('ann/x', 'ann', 'ann/x.wav'), ('bob/b1', 'bob', 'b1.flac')], [])
    """
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    name = os.path.basename(path)
    problems: List[Problem] = []
    notes: List[str] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        reader.fieldnames = columns
        if not columns:
            raise DataError(f"{path}: empty CSV (expected a header with a speaker and an audio-path column)")
        spk_col = _pick_column(columns, speaker_column, ("speaker", "spk_id"), "speaker", path, "--speaker_column")
        path_col = _pick_column(columns, path_column, ("path", "wav"), "audio-path", path, "--path_column")
        if id_column and id_column not in columns:
            raise DataError(f"{path}: no ID column {id_column!r}; found {columns}")
        id_col = id_column or ("ID" if "ID" in columns else None)
        split_col = split_column if split_column and split_column in columns else None
        raw = []
        for line, row in enumerate(reader, start=2):
            origin = f"{name} line {line}"
            spk = (row.get(spk_col) or "").strip()
            audio = (row.get(path_col) or "").strip()
            if not spk or not audio:
                empty = spk_col if not spk else path_col
                problems.append(Problem("source", path, f"line {line}: empty {empty!r} cell"))
                continue
            audio_path = os.path.normpath(resolve_audio_path(audio, folder))
            try:
                start = _parse_sample(row.get("start"))
                stop = _parse_sample(row.get("stop"))
            except ValueError:
                problems.append(
                    Problem(
                        "source",
                        path,
                        f"line {line}: start/stop must be whole non-negative sample counts, got "
                        f"{row.get('start')!r}, {row.get('stop')!r}",
                    )
                )
                continue
            split = (row.get(split_col) or "").strip() if split_col else None
            given_id = (row.get(id_col) or "").strip() if id_col else ""
            raw.append((spk, audio_path, start, stop, split, given_id, origin))
    if not raw and not problems:
        raise DataError(f"{path}: no rows")
    # IDs: the ID column, else the path below the CSV's folder (below the speaker's folder if any)
    stems: Dict[Tuple[str, str], int] = Counter()
    derived = []
    for spk, audio_path, _start, _stop, _split, given_id, _origin in raw:
        if given_id:
            uid = given_id if given_id.startswith(spk + "/") else f"{spk}/{given_id}"
        else:
            rel = os.path.relpath(audio_path, folder)
            parts = os.path.splitext(rel if not rel.startswith("..") else audio_path.lstrip(os.sep))[0].split(os.sep)
            if spk in parts[:-1]:
                parts = parts[max(i for i, part in enumerate(parts[:-1]) if part == spk) + 1 :]
            elif rel.startswith(".."):
                parts = parts[-1:]
            uid = f"{spk}/{'/'.join(parts)}"
            stems[(spk, uid)] += 1
        derived.append(uid)
    utterances = []
    for (spk, audio_path, start, stop, split, given_id, origin), uid in zip(raw, derived):
        if not given_id and stems[(spk, uid)] > 1 and (start is not None or stop is not None):
            uid = f"{uid}_{start or 0}_{stop if stop is not None else 'end'}"
        utterances.append(Utterance(uid, spk, audio_path, start, stop, split, origin))
    return utterances, problems, notes


def read_folder_source(root: str) -> Tuple[List[Utterance], List[Problem], List[str]]:
    """Utterances of a folder with one sub-folder per speaker (``.wav``/``.flac``, recursively).

    Hidden files and folders are skipped; other files, and audio directly in ``root``, are
    ignored and mentioned in the notes.

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(root, "ann", "day1"))
    >>> for rel in ("ann/day1/a.flac", "ann/b.wav", "ann/notes.txt"):
    ...     _ = open(os.path.join(root, rel), "w")
    >>> utts, problems, notes = read_folder_source(root)
    >>> [u.id for u in utts], notes
    (['ann/b', 'ann/day1/a'], ['ignored 1 non-audio file(s) (only .wav and .flac are read): ann/notes.txt'])
    """
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise DataError(f"{root}: folder not found")
    utterances: List[Utterance] = []
    ignored: List[str] = []
    outside: List[str] = []
    empty_speakers: List[str] = []
    for entry in sorted(os.listdir(root)):
        full = os.path.join(root, entry)
        if entry.startswith("."):
            continue
        if not os.path.isdir(full):
            (outside if entry.lower().endswith(AUDIO_EXTENSIONS) else ignored).append(entry)
            continue
        found = 0
        for folder, dirs, files in os.walk(full):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                rel = os.path.relpath(os.path.join(folder, name), root)
                if not name.lower().endswith(AUDIO_EXTENSIONS):
                    ignored.append(rel)
                    continue
                uid = os.path.splitext(rel)[0].replace(os.sep, "/")
                utterances.append(Utterance(uid, entry, os.path.join(folder, name), origin=rel))
                found += 1
        if not found:
            empty_speakers.append(entry)
    notes = []
    if ignored:
        notes.append(f"ignored {len(ignored)} non-audio file(s) (only .wav and .flac are read): {_listing(ignored)}")
    if outside:
        notes.append(f"ignored {len(outside)} audio file(s) outside the speaker sub-folders: {_listing(outside)}")
    if empty_speakers:
        notes.append(f"{len(empty_speakers)} sub-folder(s) without audio: {_listing(empty_speakers)}")
    utterances.sort(key=lambda u: u.id)
    return utterances, [], notes


def read_voxceleb_source(root: str) -> Tuple[List[Utterance], List[Problem], List[str]]:
    """Utterances of a VoxCeleb1/2 root: ``<root>/wav/<spk>/<video>/<utt>.wav``.

    IDs are ``<spk>/<video>/<utt>``, the entries of the official trial lists without
    ``.wav``. A root without ``wav/`` is read as the ``wav`` folder itself.
    """
    wav = os.path.join(root, "wav")
    return read_folder_source(wav if os.path.isdir(wav) else root)


def _kaldi_table(path: str) -> List[Tuple[int, str, str]]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields_ = line.strip().split(None, 1)
            if not fields_:
                continue
            rows.append((number, fields_[0], fields_[1].strip() if len(fields_) > 1 else ""))
    return rows


def read_kaldi_source(folder: str) -> Tuple[List[Utterance], List[Problem], List[str]]:
    """Utterances of a Kaldi data dir: ``wav.scp``, ``utt2spk`` and optional ``segments``.

    ``wav.scp`` entries must be plain file paths (relative ones are taken from the current
    directory, as Kaldi does, else from the data dir); piped commands (``... |``) and
    ``.ark:offset`` entries are reported. With ``segments`` (``<utt> <recording> <start s>
    <end s>``; end -1 means the end of the file), ``wav.scp`` lists recordings and the
    segments become ``start``/``stop`` samples. IDs are ``<spk>/<utt>``.

    Example
    -------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "wav.scp"), "w").write("u1 /a/u1.wav\\nu2 sox x.wav -t wav - |\\n")
    >>> _ = open(os.path.join(d, "utt2spk"), "w").write("u1 ann\\nu2 ann\\n")
    >>> utts, problems, notes = read_kaldi_source(d)
    >>> [u.id for u in utts], [p.reason[:33] for p in problems]
    (['ann/u1'], ["line 2: piped command for 'u2' is"])
    """
    if os.path.isfile(folder):
        folder = os.path.dirname(folder)
    folder = os.path.abspath(folder)
    scp = os.path.join(folder, "wav.scp")
    utt2spk_path = os.path.join(folder, "utt2spk")
    for required in (scp, utt2spk_path):
        if not os.path.isfile(required):
            raise DataError(f"{required}: not found; a Kaldi data dir needs wav.scp and utt2spk")
    problems: List[Problem] = []
    recordings: Dict[str, str] = {}
    refused: Set[str] = set()
    for number, key, value in _kaldi_table(scp):
        if value.endswith("|"):
            problems.append(
                Problem(
                    "source",
                    scp,
                    f"line {number}: piped command for {key!r} is not supported ({value[:80]}); run the "
                    f"command once to write an audio file and list that file in wav.scp",
                )
            )
            refused.add(key)
            continue
        if not value or ".ark:" in value or value.startswith("-"):
            problems.append(Problem("source", scp, f"line {number}: {key!r} has no plain audio path ({value[:80]!r})"))
            refused.add(key)
            continue
        audio = value if os.path.isabs(value) else os.path.abspath(value)
        if not os.path.isabs(value) and not os.path.exists(audio) and os.path.exists(os.path.join(folder, value)):
            audio = os.path.join(folder, value)
        recordings[key] = os.path.normpath(audio)
    speakers: Dict[str, str] = {}
    for number, utt, spk in _kaldi_table(utt2spk_path):
        if not spk or len(spk.split()) != 1:
            problems.append(Problem("source", utt2spk_path, f"line {number}: expected '<utt> <speaker>' for {utt!r}"))
        else:
            speakers[utt] = spk
    segments_path = os.path.join(folder, "segments")
    listed: List[Tuple[str, str, Optional[int], Optional[int], str]] = []  # utt, path, start, stop, origin
    if os.path.isfile(segments_path):
        for number, utt, rest in _kaldi_table(segments_path):
            parts = rest.split()
            try:
                reco, begin, end = parts[0], float(parts[1]), float(parts[2])
            except (IndexError, ValueError):
                problems.append(
                    Problem("source", segments_path, f"line {number}: expected '<utt> <recording> <start> <end>'")
                )
                continue
            if reco in refused:
                refused.add(utt)
                continue
            if reco not in recordings:
                problems.append(
                    Problem("source", segments_path, f"line {number}: recording {reco!r} is not in wav.scp")
                )
                continue
            rate = _sample_rate_or_none(recordings[reco]) or 1  # unreadable files are reported later
            start = int(round(begin * rate))
            stop = int(round(end * rate)) if end >= 0 else None
            listed.append((utt, recordings[reco], start, stop, f"segments line {number}"))
    else:
        listed = [(utt, audio, None, None, f"wav.scp {utt}") for utt, audio in recordings.items()]
    utterances: List[Utterance] = []
    for utt, audio, start, stop, origin in sorted(listed):
        spk = speakers.get(utt)
        if spk is None:
            problems.append(Problem("source", utt2spk_path, f"{utt!r} ({audio}) has no speaker in utt2spk"))
            continue
        utterances.append(Utterance(f"{spk}/{utt}", spk, audio, start, stop, origin=origin))
    notes = []
    unlisted = sorted(set(speakers) - {u for u, *_ in listed} - refused)
    if unlisted:
        notes.append(f"{len(unlisted)} utt2spk entr(ies) without audio in wav.scp/segments: {_listing(unlisted)}")
    return utterances, problems, notes


def _sample_rate_or_none(path: str) -> Optional[int]:
    try:
        return sf.info(path).samplerate
    except Exception:
        return None


def read_source(fmt: str, opts: PrepareOptions) -> Tuple[List[Utterance], List[Problem], List[str]]:
    """Dispatch to the reader of ``fmt``."""
    if fmt == "csv":
        return read_csv_source(
            opts.source,
            opts.speaker_column,
            opts.path_column,
            opts.id_column,
            opts.split_column if opts.keep_splits else None,
        )
    if fmt == "folder":
        return read_folder_source(opts.source)
    if fmt == "kaldi":
        return read_kaldi_source(opts.source)
    if fmt == "voxceleb":
        return read_voxceleb_source(opts.source)
    raise DataError(f"unknown format {fmt!r}; use one of {list(FORMATS)}")


# --------------------------------------------------------------------------- audio
def inspect_audio(
    path: str, start: Optional[int] = None, stop: Optional[int] = None, silence_peak: float = 1e-4
) -> Tuple[Optional[AudioInfo], Optional[str], str]:
    """Read segment ``[start, stop)`` of a file and check it: ``(info, None, "")`` when usable,
    else ``(None, kind, reason)`` with ``kind`` one of ``missing``, ``unreadable``, ``empty``,
    ``segment``, ``nonfinite``, ``silent``.

    ``sha1`` is taken over the decoded float32 samples (so the same audio as WAV and FLAC
    matches). Sample rate and channels are reported, not judged.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> sf.write(path, np.zeros(800, dtype="float32"), 8000)
    >>> inspect_audio(path)[1:]
    ('silent', 'all-silent: peak 0 < 0.0001')
    >>> sf.write(path, 0.5 * np.ones((800, 2), dtype="float32"), 8000)
    >>> info = inspect_audio(path, 100)[0]
    >>> info.sample_rate, info.channels, info.samples, info.peak
    (8000, 2, 700, 0.5)
    """
    if not os.path.isfile(path):
        return None, "missing", "file not found" if not os.path.exists(path) else "not a file"
    try:
        with sf.SoundFile(path) as handle:
            rate, channels, total, subtype = handle.samplerate, handle.channels, handle.frames, handle.subtype
            if total <= 0:
                return None, "empty", "no samples"
            begin = 0 if start is None else int(start)
            end = total if stop is None else int(stop)
            if not 0 <= begin < end <= total:
                return None, "segment", f"start/stop [{begin}, {end}) outside the file's {total} samples"
            handle.seek(begin)
            data = handle.read(end - begin, dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises several types for corrupt files
        return None, "unreadable", f"{type(error).__name__}: {str(error).strip() or 'cannot be decoded'}"
    if data.shape[0] < end - begin:
        return None, "unreadable", f"truncated: {data.shape[0]} of {end - begin} samples could be read"
    finite = np.isfinite(data)
    if not finite.all():
        return None, "nonfinite", f"{int((~finite).sum())} NaN/Inf sample(s)"
    peak = float(np.abs(data).max())
    if peak < silence_peak:
        return None, "silent", f"all-silent: peak {peak:.3g} < {silence_peak:g}"
    digest = hashlib.sha1(np.ascontiguousarray(data).tobytes()).hexdigest()
    return AudioInfo(rate, channels, begin, end, peak, digest, subtype), None, ""


def _inspect_job(item: Tuple[str, Optional[int], Optional[int], float]):
    return inspect_audio(*item)


def _inspect_all(
    utterances: Sequence[Utterance], silence_peak: float, jobs: int, log: Callable[[str], None]
) -> List[Tuple[Optional[AudioInfo], Optional[str], str]]:
    items = [(u.path, u.start, u.stop, silence_peak) for u in utterances]
    if len(items) > 2000:
        log(f"reading {len(items)} audio segments with {jobs} process(es) ...")
    if jobs > 1 and len(items) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(_inspect_job, items, chunksize=64))
    return [_inspect_job(item) for item in items]


def _convert(utt: Utterance, info: AudioInfo, target: str, sample_rate: int) -> Tuple[int, str]:
    """Write the segment as mono ``sample_rate`` WAV at ``target``; returns (samples, subtype)."""
    data, rate = sf.read(utt.path, start=info.start, stop=info.stop, dtype="float64", always_2d=True)
    if data.shape[1] > 1:
        data = data.mean(axis=1, keepdims=True)
    if rate != sample_rate:
        from scipy.signal import resample_poly

        divisor = math.gcd(rate, sample_rate)
        data = resample_poly(data, sample_rate // divisor, rate // divisor, axis=0)
    subtype = "PCM_16" if info.subtype == "PCM_16" and np.abs(data).max() <= 1.0 else "FLOAT"
    os.makedirs(os.path.dirname(target), exist_ok=True)
    sf.write(target, data.astype(np.float32), sample_rate, subtype=subtype, format="WAV")
    return data.shape[0], subtype


def _copy_name(uid: str) -> str:
    parts = [p if p not in ("", ".", "..") else "_" for p in uid.split("/")]
    return os.path.join("audio", *parts)


# --------------------------------------------------------------------------- splits and trials
def choose_test_speakers(
    utterance_counts: Mapping[str, int], count: Optional[int], fraction: Optional[float], seed: int
) -> Tuple[List[str], List[str]]:
    """Pick the open-set test speakers: ``count`` of them, or ``round(fraction x speakers)``.

    Only speakers with at least 2 utterances are eligible (a target trial needs two). The
    draw is a seeded permutation of the sorted eligible speakers, so it does not depend on
    the input order. A fraction that would give 1 speaker gives 2 (non-target trials need
    2), and none when fewer than 2 training speakers would be left. Returns
    ``(test speakers sorted, notes)``; an impossible ``count`` raises :class:`DataError`.

    Example
    -------
    >>> counts = {"a": 5, "b": 5, "c": 5, "d": 1, "e": 4, "f": 3}
    >>> choose_test_speakers(counts, 2, None, seed=0)[0] == choose_test_speakers(dict(reversed(counts.items())), 2, None, 0)[0]
    True
    >>> len(choose_test_speakers(counts, None, 0.5, seed=0)[0]), "d" in choose_test_speakers(counts, 4, None, 0)[0]
    (3, False)
    """
    speakers = sorted(utterance_counts)
    eligible = [s for s in speakers if utterance_counts[s] >= 2]
    notes: List[str] = []
    if count is not None:
        if count == 0:
            return [], notes
        if count == 1:
            raise DataError("--test_speakers 1: non-target trials need at least 2 test speakers (or 0 for no test set)")
        if count > len(eligible) or len(speakers) - count < 2:
            raise DataError(
                f"--test_speakers {count}: only {len(eligible)} speaker(s) have 2+ utterances and "
                f"{len(speakers)} speakers in all, and training needs at least 2 speakers left"
            )
        wanted = count
    else:
        fraction = 0.2 if fraction is None else fraction
        wanted = int(round(fraction * len(speakers))) if fraction > 0 else 0
        if wanted == 1:
            wanted = 2
        wanted = min(wanted, len(eligible))
        if wanted and (len(speakers) - wanted < 2 or wanted < 2):
            notes.append(
                f"no test set: {len(speakers)} speakers ({len(eligible)} with 2+ utterances) are too few "
                f"for 2 test speakers and 2 training speakers"
            )
            wanted = 0
    order = np.random.default_rng(seed).permutation(len(eligible))
    return sorted(eligible[i] for i in order[:wanted]), notes


def spread_evenly(total: int, capacities: Sequence[int], rng: np.random.Generator) -> List[int]:
    """Share ``total`` among bins as evenly as their ``capacities`` allow (water filling).

    Bins below capacity differ by at most one; which bins get the remainder is drawn from
    ``rng``. Returns the amounts (their sum is ``min(total, sum(capacities))``).

    Example
    -------
    >>> spread_evenly(10, [2, 100, 100], np.random.default_rng(0))
    [2, 4, 4]
    >>> sorted(spread_evenly(7, [9, 9, 9], np.random.default_rng(0)))
    [2, 2, 3]
    """
    amounts = [0] * len(capacities)
    remaining = min(int(total), int(sum(capacities)))
    open_bins = [i for i, cap in enumerate(capacities) if cap > 0]
    while remaining > 0 and open_bins:
        share = remaining // len(open_bins)
        if share == 0:
            for pick in rng.permutation(len(open_bins))[:remaining]:
                amounts[open_bins[pick]] += 1
            break
        for i in open_bins:
            give = min(share, capacities[i] - amounts[i])
            amounts[i] += give
            remaining -= give
        open_bins = [i for i in open_bins if amounts[i] < capacities[i]]
    return amounts


def _pairs_from_indices(indices: np.ndarray, n: int) -> List[Tuple[int, int]]:
    """The pairs (a < b) of range(n) at the given positions of their lexicographic order.

    Example
    -------
    >>> _pairs_from_indices(np.arange(6), 4)
    [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    """
    rows = np.arange(n, dtype=np.int64)
    starts = rows * n - rows * (rows + 1) // 2  # row a holds (a, a+1 .. n-1)
    a = np.searchsorted(starts, indices, side="right") - 1
    b = indices - starts[a] + a + 1
    return list(zip(a.tolist(), b.tolist()))


def make_trials(
    utterances_by_speaker: Mapping[str, Sequence[str]], count: int = 6000, seed: int = 1986, all_pairs: bool = False
) -> List[Trial]:
    """A balanced VoxCeleb-style trial list over test speakers, deterministic for a seed.

    ``count // 2`` target and as many non-target trials (fewer when fewer pairs exist:
    both halves are capped by the smaller supply). Targets are spread evenly over the
    speakers and non-targets over the speaker pairs (:func:`spread_evenly`); pairs are drawn
    without replacement, so each unordered pair of utterances appears at most once; the
    enrol/test order is random. ``all_pairs`` gives every unordered pair instead (not
    balanced). Trials are sorted by enrol then test ID.

    Example
    -------
    >>> utts = {"a": ["a/1", "a/2", "a/3"], "b": ["b/1", "b/2"], "c": ["c/1", "c/2"]}
    >>> trials = make_trials(utts, count=8, seed=0)
    >>> sum(t.label for t in trials), len(trials)
    (4, 8)
    >>> len(make_trials(utts, all_pairs=True))
    21
    """
    speakers = sorted(s for s, u in utterances_by_speaker.items() if len(u) > 0)
    lists = {s: sorted(utterances_by_speaker[s]) for s in speakers}
    rng = np.random.default_rng(seed)
    trials: List[Trial] = []
    if all_pairs:
        everyone = sorted((uid, s) for s in speakers for uid in lists[s])
        for i, (a, sa) in enumerate(everyone):
            for b, sb in everyone[i + 1 :]:
                trials.append(Trial(int(sa == sb), a, b))
        return trials
    pairs = [(a, b) for i, a in enumerate(speakers) for b in speakers[i + 1 :]]
    target_caps = [len(lists[s]) * (len(lists[s]) - 1) // 2 for s in speakers]
    nontarget_caps = [len(lists[a]) * len(lists[b]) for a, b in pairs]
    half = min(max(int(count), 0) // 2, sum(target_caps), sum(nontarget_caps))
    per_speaker = spread_evenly(half, target_caps, rng)
    per_pair = spread_evenly(half, nontarget_caps, rng)

    def oriented(label: int, a: str, b: str) -> Trial:
        return Trial(label, a, b) if rng.random() < 0.5 else Trial(label, b, a)

    for speaker, amount, cap in zip(speakers, per_speaker, target_caps):
        if not amount:
            continue
        items = lists[speaker]
        for i, j in _pairs_from_indices(np.sort(rng.choice(cap, size=amount, replace=False)), len(items)):
            trials.append(oriented(1, items[i], items[j]))
    for (sa, sb), amount, cap in zip(pairs, per_pair, nontarget_caps):
        first, second = lists[sa], lists[sb]
        if not amount:
            continue
        for k in np.sort(rng.choice(cap, size=amount, replace=False)).tolist():
            trials.append(oriented(0, first[k // len(second)], second[k % len(second)]))
    trials.sort(key=lambda t: (t.enrol, t.test))
    return trials


def write_trials(path: str, trials: Iterable[Trial]) -> None:
    """Write ``<1|0> <enrol>.wav <test>.wav`` lines (the VoxCeleb format of the dev set).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "trials.txt")
    >>> write_trials(path, [Trial(1, "a/1", "a/2")]); open(path).read()
    '1 a/1.wav a/2.wav\\n'
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for trial in trials:
            handle.write(f"{int(trial.label)} {trial.enrol}.wav {trial.test}.wav\n")


# --------------------------------------------------------------------------- messages
def _listing(items: Sequence[str], limit: int = 10) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" ... (+{len(items) - limit} more)" if len(items) > limit else "")


def _grouped(problems: Sequence[Problem]) -> Dict[str, List[Problem]]:
    groups: Dict[str, List[Problem]] = {kind: [] for kind in PROBLEM_KINDS}
    for problem in problems:
        groups[problem.kind].append(problem)
    return {kind: items for kind, items in groups.items() if items}


def format_problems(problems: Sequence[Problem], drop_bad: bool = False) -> str:
    """All problems grouped by kind, one ``file: reason`` line each, and what to do.

    Example
    -------
    >>> print(format_problems([Problem("missing", "/d/a.wav", "file not found (d.csv line 2)")]))
    1 problem(s) in the input; nothing was written and the input is unchanged.
    missing file (1):
      /d/a.wav: file not found (d.csv line 2)
    Fix or remove these entries, or pass --drop_bad to leave the affected utterances out (they are then listed in data_report.md).
    """
    lines = [f"{len(problems)} problem(s) in the input; nothing was written and the input is unchanged."]
    for kind, items in _grouped(problems).items():
        lines.append(f"{PROBLEM_KINDS[kind][0]} ({len(items)}):")
        lines.extend(f"  {p.file}: {p.reason}" for p in items)
    fatal = [p for p in problems if not p.droppable]
    if fatal:
        lines.append(
            "The problems of the dataset as a whole ("
            + ", ".join(sorted({PROBLEM_KINDS[p.kind][0].split(" (")[0] for p in fatal}))
            + ") must be fixed in the source; --drop_bad does not skip them."
        )
    if any(p.droppable for p in problems) and not drop_bad:
        lines.append(
            "Fix or remove these entries, or pass --drop_bad to leave the affected utterances out "
            "(they are then listed in data_report.md)."
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- the whole preparation
def _check_options(opts: PrepareOptions) -> None:
    if opts.format is not None and opts.format not in FORMATS:
        raise DataError(f"unknown --format {opts.format!r}; use one of {list(FORMATS)}")
    if not 0.0 <= opts.valid_fraction < 1.0:
        raise DataError(f"--valid_fraction must be in [0, 1), got {opts.valid_fraction}")
    if opts.test_fraction is not None and not 0.0 <= opts.test_fraction < 1.0:
        raise DataError(f"--test_fraction must be in [0, 1), got {opts.test_fraction}")
    if opts.test_speakers is not None and opts.test_speakers < 0:
        raise DataError(f"--test_speakers must be 0 or more, got {opts.test_speakers}")
    if opts.test_speakers is not None and opts.test_fraction is not None:
        raise DataError("give --test_speakers or --test_fraction, not both")
    if (opts.trials or opts.keep_splits) and (opts.test_speakers is not None or opts.test_fraction is not None):
        raise DataError(
            "--test_speakers/--test_fraction choose test speakers at random; with --trials or "
            "--keep_splits the test speakers are given by the source, so leave them out"
        )
    if opts.trials and opts.all_pairs:
        raise DataError("--all_pairs makes a trial list; with --trials the given list is used, so leave one out")
    if opts.trials_count < 2:
        raise DataError(f"--trials_count must be at least 2, got {opts.trials_count}")
    if opts.sample_rate <= 0 or opts.min_seconds < 0 or opts.silence_peak < 0 or opts.jobs < 1:
        raise DataError("--sample_rate and --jobs must be positive, --min_seconds and --silence_peak non-negative")
    if opts.trials and not os.path.isfile(opts.trials):
        raise DataError(f"{opts.trials}: trial list not found")


def is_inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies inside it (links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _check_output(opts: PrepareOptions) -> None:
    output = os.path.abspath(opts.output)
    source = os.path.abspath(opts.source)
    if os.path.isdir(source) and is_inside(output, source):
        raise DataError(
            f"--output {output} is inside the source folder {source}: the input is never "
            f"modified, so write the output elsewhere"
        )
    if os.path.exists(output):
        if not os.path.isdir(output):
            raise DataError(f"--output {output} exists and is not a folder")
        if os.listdir(output):
            if not opts.overwrite:
                raise DataError(
                    f"--output {output} exists and is not empty; pass --overwrite to replace it "
                    f"(it is replaced only once the new output is complete)"
                )
            if is_inside(source, output):
                raise DataError(f"--overwrite would delete the source {source}, which is inside --output {output}")
    # the output is published by renaming a folder made beside it: check that place now, not
    # after every audio file was read
    parent = os.path.dirname(output)
    existing = parent
    while existing and not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if existing and (not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK)):
        raise DataError(
            f"--output {output}: cannot create it, {existing} is not a writable folder; choose another --output"
        )


def _row(utt: Utterance, wav: str, start: int, stop: int, seconds: float) -> Dict[str, str]:
    return {
        "ID": utt.id,
        "duration": f"{seconds:.3f}",
        "wav": wav,
        "start": str(start),
        "stop": str(stop),
        "spk_id": utt.spk_id,
    }


def _stats(values: Sequence[float]) -> Tuple[float, float, float]:
    return (min(values), statistics.median(values), max(values)) if values else (0, 0, 0)


def prepare(opts: PrepareOptions, log: Callable[[str], None] = print) -> PrepareResult:
    """Read, validate, split and write a speaker dataset (see the module docstring).

    Raises :class:`PreparationError` (a :class:`DataError`) listing every problem, grouped
    by kind, when the input cannot be prepared as asked; nothing is written then.
    """
    _check_options(opts)
    source = os.path.abspath(opts.source)
    if not os.path.exists(source):
        raise DataError(f"{source}: source not found")
    _check_output(opts)
    fmt = opts.format or detect_format(source)
    utterances, problems, notes = read_source(fmt, opts)
    bad_ids: Set[str] = set()  # utterances with a droppable problem

    def flag(utt: Utterance, kind: str, reason: str, file: Optional[str] = None) -> None:
        where = f" ({utt.origin})" if utt.origin and file is None else ""
        problems.append(Problem(kind, file or utt.path, reason + where))
        if PROBLEM_KINDS[kind][1]:
            bad_ids.add(utt.id)

    # names and IDs
    first_seen: Dict[str, Utterance] = {}
    for utt in utterances:
        if _has_whitespace(utt.id) or _has_whitespace(utt.spk_id):
            flag(utt, "whitespace", f"ID {utt.id!r}, speaker {utt.spk_id!r}")
        if utt.id in first_seen:
            other = first_seen[utt.id]
            flag(
                utt,
                "duplicate_id",
                f"ID {utt.id!r} also given to {other.path}"
                f"{' (' + other.origin + ')' if other.origin else ''}; add an ID column or rename one",
            )
        else:
            first_seen[utt.id] = utt
    if opts.keep_splits:
        if fmt != "csv":
            raise DataError("--keep_splits needs a CSV source with a split column (train/valid/test)")
        for utt in utterances:
            if SPLIT_NAMES.get((utt.split or "").lower()) is None:
                flag(utt, "split_value", f"split {utt.split!r} of {utt.id!r}")
    # audio
    unique = list(first_seen.values())
    inspected = dict(zip((u.id for u in unique), _inspect_all(unique, opts.silence_peak, opts.jobs, log)))
    infos: Dict[str, AudioInfo] = {}
    for utt in unique:
        info, kind, reason = inspected[utt.id]
        if info is None:
            flag(utt, kind, reason)
            continue
        infos[utt.id] = info
        if info.sample_rate != opts.sample_rate and not opts.resample:
            flag(utt, "sample_rate", f"{info.sample_rate} Hz, expected {opts.sample_rate} Hz")
        if info.channels > 1 and not opts.downmix:
            flag(utt, "channels", f"{info.channels} channels, expected mono")
    by_hash: Dict[str, List[Utterance]] = defaultdict(list)
    for utt in unique:
        if utt.id in infos:
            by_hash[infos[utt.id].sha1].append(utt)
    same_speaker_copies = 0
    for copies in by_hash.values():
        if len({u.spk_id for u in copies}) > 1:
            for utt in copies:
                others = ", ".join(f"{o.path} [{o.spk_id}]" for o in copies if o is not utt)
                flag(utt, "duplicate_audio", f"speaker {utt.spk_id!r}; same samples as {others}")
        elif len(copies) > 1:
            same_speaker_copies += len(copies) - 1
    if same_speaker_copies:
        notes.append(
            f"{same_speaker_copies} utterance(s) repeat the samples of another utterance of the same speaker (kept)"
        )
    # short utterances
    short = sorted(
        u.id
        for u in unique
        if u.id in infos and u.id not in bad_ids and infos[u.id].samples / infos[u.id].sample_rate < opts.min_seconds
    )
    short_ids = set(short) if opts.drop_short else set()
    kept = [u for u in unique if u.id not in bad_ids and u.id in infos and u.id not in short_ids]
    kept_ids = {u.id for u in kept}
    by_speaker: Dict[str, List[Utterance]] = defaultdict(list)
    for utt in kept:
        by_speaker[utt.spk_id].append(utt)
    singles = sorted(s for s, items in by_speaker.items() if len(items) < 2)
    if singles:
        notes.append(
            f"{len(singles)} speaker(s) with a single utterance (no target trial or validation utterance "
            f"possible; not eligible for a drawn test set): {_listing(singles)}"
        )
    # splits
    dropped_test: List[str] = []
    valid_given: List[Utterance] = []
    trials: List[Trial] = []
    given_trials: Optional[List[Trial]] = None
    if opts.keep_splits:
        parts: Dict[str, List[Utterance]] = {"train": [], "valid": [], "test": []}
        for utt in kept:
            parts[SPLIT_NAMES[utt.split.lower()]].append(utt)
        train_pool, valid_given, test_utts = parts["train"], parts["valid"], parts["test"]
        train_spk = {u.spk_id for u in train_pool}
        overlap = sorted(train_spk & {u.spk_id for u in test_utts})
        if overlap:
            problems.append(
                Problem(
                    "split",
                    source,
                    f"speaker(s) in both train and test: {_listing(overlap)}; test speakers must be unseen in training",
                )
            )
        outside = sorted({u.spk_id for u in valid_given} - train_spk)
        if outside:
            problems.append(
                Problem(
                    "split",
                    source,
                    f"valid speaker(s) not in train: {_listing(outside)}; "
                    f"valid is closed-set (held-out utterances of training speakers)",
                )
            )
        test_speakers = sorted({u.spk_id for u in test_utts})
    elif opts.trials:
        try:
            given_trials = parse_trials(opts.trials)
        except ValueError as error:
            raise DataError(str(error)) from None
        known = {u.id: u for u in utterances}
        test_speakers = sorted({known[i].spk_id for t in given_trials for i in (t.enrol, t.test) if i in known})
        train_pool = [u for u in kept if u.spk_id not in set(test_speakers)]
        test_utts = [u for u in kept if u.spk_id in set(test_speakers)]
    else:
        counts = {s: len(items) for s, items in by_speaker.items()}
        test_speakers, picked_notes = choose_test_speakers(counts, opts.test_speakers, opts.test_fraction, opts.seed)
        notes.extend(picked_notes)
        train_pool = [u for u in kept if u.spk_id not in set(test_speakers)]
        test_utts = [u for u in kept if u.spk_id in set(test_speakers)]
    if given_trials is None:
        test_counts = Counter(u.spk_id for u in test_utts)
        lonely = sorted(s for s, n in test_counts.items() if n < 2)
        if lonely:
            dropped_test = [u.id for u in test_utts if u.spk_id in set(lonely)]
            notes.append(
                f"{len(lonely)} test speaker(s) with fewer than 2 utterances dropped (no target trial "
                f"possible): {_listing(lonely)}"
            )
            test_utts = [u for u in test_utts if u.spk_id not in set(lonely)]
        test_speakers = sorted({u.spk_id for u in test_utts})
        if len(test_speakers) == 1:
            problems.append(
                Problem(
                    "speakers",
                    source,
                    f"only 1 test speaker ({test_speakers[0]}) with 2+ utterances: non-target trials need 2",
                )
            )
    else:
        test_ids = {u.id for u in test_utts}
        unusable = []
        for number, trial in enumerate(given_trials, start=1):
            missing = [i for i in (trial.enrol, trial.test) if i not in test_ids]
            if not missing:
                trials.append(trial)
                continue
            unusable.append(trial)
            unknown = [i for i in missing if i not in bad_ids and not (opts.drop_short and i in short_ids)]
            if unknown:
                where = ", ".join(
                    f"{i} ({'not in the test split' if i in first_seen else 'not in the source'})" for i in unknown
                )
                problems.append(
                    Problem(
                        "trials",
                        opts.trials,
                        f"trial {number}: {where}; prepared IDs are <spk>/<path below the speaker folder>",
                    )
                )
        if unusable:
            notes.append(
                f"{len(unusable)} of {len(given_trials)} given trials refer to utterances that were "
                f"dropped or not found, and were left out"
            )
    train_speakers = sorted({u.spk_id for u in train_pool})
    if len(train_speakers) < 2:
        problems.append(
            Problem(
                "speakers",
                source,
                f"{len(train_speakers)} training speaker(s) left "
                f"({_listing(train_speakers)}); training needs at least 2",
            )
        )
    elif len(train_speakers) < 10:
        notes.append(
            f"warning: only {len(train_speakers)} training speakers; embeddings trained on so few "
            f"speakers generalise poorly"
        )
    blocking = [p for p in problems if not (p.droppable and opts.drop_bad)]
    if blocking:
        raise PreparationError(format_problems(problems, opts.drop_bad), problems)
    dropped = [p for p in problems if p.droppable]

    # train / valid rows
    def rows_of(utts: Sequence[Utterance]) -> List[Dict[str, str]]:
        return [rows[u.id] for u in sorted(utts, key=lambda u: u.id)]

    rows: Dict[str, Dict[str, str]] = {}
    converted: Dict[str, Tuple[str, int]] = {}  # id -> (relative target, samples)
    copied: Dict[str, Tuple[str, bool]] = {}  # id -> (relative target, whole file copied as is)
    for utt in kept:
        info = infos[utt.id]
        needs = info.sample_rate != opts.sample_rate or info.channels > 1
        if needs:
            rel = _copy_name(utt.id) + ".wav"
            samples = (
                int(round(info.samples * opts.sample_rate / info.sample_rate))
                if info.sample_rate != opts.sample_rate
                else info.samples
            )
            converted[utt.id] = (rel, samples)
            rows[utt.id] = _row(utt, rel, 0, samples, samples / opts.sample_rate)
        elif opts.copy_audio:
            whole = info.start == 0 and utt.stop is None
            rel = _copy_name(utt.id) + (os.path.splitext(utt.path)[1].lower() if whole else ".wav")
            copied[utt.id] = (rel, whole)
            rows[utt.id] = _row(utt, rel, 0, info.samples, info.seconds)
        else:
            rows[utt.id] = _row(utt, utt.path, info.start, info.stop, info.seconds)
    train_rows = rows_of(train_pool)
    if valid_given:
        valid_rows = rows_of(valid_given)
    elif opts.valid_fraction > 0:
        train_rows, valid_rows = split_train_valid(train_rows, opts.valid_fraction, opts.seed)
    else:
        valid_rows = []
    test_rows = rows_of(test_utts)
    if given_trials is None and test_rows:
        trials = make_trials(
            {s: [u.id for u in test_utts if u.spk_id == s] for s in test_speakers},
            opts.trials_count,
            opts.seed,
            opts.all_pairs,
        )
        if not opts.all_pairs and len(trials) < 2 * (opts.trials_count // 2):
            notes.append(
                f"{len(trials)} trials instead of {2 * (opts.trials_count // 2)}: the test speakers do not "
                f"have more distinct balanced pairs"
            )

    # write into a temporary sibling, then rename into place
    output = os.path.abspath(opts.output)
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.tmp-", dir=parent)
    try:
        for uid, (rel, _) in converted.items():
            _convert(first_seen[uid], infos[uid], os.path.join(tmp, rel), opts.sample_rate)
        for uid, (rel, whole) in copied.items():
            utt, info = first_seen[uid], infos[uid]
            target = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if whole:
                shutil.copyfile(utt.path, target)
            else:
                data, rate = sf.read(utt.path, start=info.start, stop=info.stop, dtype="float32")
                sf.write(target, data, rate, subtype="PCM_16" if info.subtype == "PCM_16" else "FLOAT", format="WAV")
        written = {}
        for name, split_rows in (("train", train_rows), ("valid", valid_rows), ("test", test_rows)):
            if split_rows:
                write_speaker_csv(os.path.join(tmp, f"{name}.csv"), split_rows)
                written[name] = read_speaker_csv(os.path.join(tmp, f"{name}.csv"))  # self-check: the recipes read it
        if trials:
            write_trials(os.path.join(tmp, "trials.txt"), trials)
            check_trial_ids(parse_trials(os.path.join(tmp, "trials.txt")), {r["ID"] for r in test_rows}, "test.csv")
        result = PrepareResult(output, fmt, train_rows, valid_rows, test_rows, trials, dropped, notes)
        report = render_report(opts, result, infos, kept_ids, short, dropped_test, converted, copied)
        with open(os.path.join(tmp, "data_report.md"), "w", encoding="utf-8") as handle:
            handle.write(report)
        publish_folder(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def publish_folder(staging: str, output: str) -> None:
    """Move a fully written ``staging`` folder (a sibling of ``output``, from mkdtemp) into
    place: ordinary permissions, and an existing ``output`` is renamed aside first and only
    then removed, so a crash never leaves a half-written folder at ``output``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    if os.path.isdir(output) and os.listdir(output):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.old-", dir=os.path.dirname(os.path.abspath(output)))
        os.rename(output, os.path.join(old, "previous"))
        os.rename(staging, output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if os.path.isdir(output):
            os.rmdir(output)
        os.rename(staging, output)


# --------------------------------------------------------------------------- report
def render_report(
    opts: PrepareOptions,
    result: PrepareResult,
    infos: Mapping[str, AudioInfo],
    kept_ids: Set[str],
    short: Sequence[str],
    dropped_test: Sequence[str],
    converted: Mapping[str, Tuple[str, int]],
    copied: Mapping[str, str],
) -> str:
    """``data_report.md``: what the output holds, what was dropped and why (no timestamps,
    no output path, so the same input and seed give the same bytes)."""
    defaults = PrepareOptions(source="", output="")
    changed = [
        f"--{f.name} {getattr(opts, f.name)}" if not isinstance(getattr(opts, f.name), bool) else f"--{f.name}"
        for f in fields(PrepareOptions)
        if f.name not in ("source", "output", "overwrite", "jobs")
        and getattr(opts, f.name) != getattr(defaults, f.name)
    ]
    lines = [
        "# Data report",
        "",
        f"Source: `{os.path.abspath(opts.source)}` (format `{result.format}`), prepared by `recipes/prepare.py`"
        f" with seed {opts.seed}, sample rate {opts.sample_rate} Hz"
        + (f", options `{' '.join(changed)}`" if changed else "")
        + ".",
        "",
        "## Splits",
        "",
        "| file | speakers | utterances | minutes | utterances per speaker (min / median / max) |",
        "|---|---|---|---|---|",
    ]
    everything = result.train + result.valid + result.test
    for name, rows in (
        ("train.csv", result.train),
        ("valid.csv", result.valid),
        ("test.csv", result.test),
        ("all", everything),
    ):
        if not rows:
            lines.append(f"| {name} | 0 | 0 | 0 | - |")
            continue
        per = Counter(r["spk_id"] for r in rows)
        lo, med, hi = _stats(list(per.values()))
        minutes = sum(float(r["duration"]) for r in rows) / 60
        lines.append(f"| {name} | {len(per)} | {len(rows)} | {minutes:.1f} | {lo} / {med:g} / {hi} |")
    lines.append("")
    if result.train and result.test:
        lines.append(
            "Training and test speakers are disjoint (open-set test); valid.csv holds held-out utterances "
            "of training speakers (closed set)."
        )
    if result.trials:
        targets = [t for t in result.trials if t.label == 1]
        nontargets = [t for t in result.trials if t.label == 0]
        speaker_of = {r["ID"]: r["spk_id"] for r in result.test}
        per_spk = Counter(speaker_of[t.enrol] for t in targets)
        per_pair = Counter(tuple(sorted((speaker_of[t.enrol], speaker_of[t.test]))) for t in nontargets)
        source = (
            f"copied from `{os.path.abspath(opts.trials)}`"
            if opts.trials
            else ("every pair of test utterances" if opts.all_pairs else "drawn balanced and spread evenly")
        )
        lines += [
            "",
            f"trials.txt: {len(result.trials)} trials ({len(targets)} target, {len(nontargets)} non-target), {source}.",
        ]
        if per_spk:
            lines.append(
                f"Target trials per test speaker: {min(per_spk.values())} to {max(per_spk.values())} "
                f"over {len(per_spk)} speakers."
            )
        if per_pair:
            lines.append(
                f"Non-target trials per speaker pair: {min(per_pair.values())} to {max(per_pair.values())} "
                f"over {len(per_pair)} pairs."
            )
    elif not result.test:
        lines += ["", "No test set and no trials.txt (no test speakers)."]
    kept = [infos[i] for i in sorted(kept_ids)]
    durations = [info.seconds for info in kept]
    lines += ["", "## Audio", ""]
    if durations:
        lo, med, hi = _stats(durations)
        lines.append(
            f"- Utterance duration: min {lo:.3f} s, median {med:.3f} s, mean {sum(durations) / len(durations):.3f} s, "
            f"max {hi:.3f} s; total {sum(durations) / 60:.1f} min over {len(durations)} utterances."
        )
        rates = Counter(info.sample_rate for info in kept)
        lines.append("- Source sample rates: " + ", ".join(f"{r} Hz: {n}" for r, n in sorted(rates.items())) + ".")
        channels = Counter(info.channels for info in kept)
        lines.append("- Channels: " + ", ".join(f"{c}: {n}" for c, n in sorted(channels.items())) + ".")
    if converted:
        resampled = sum(1 for i in converted if infos[i].sample_rate != opts.sample_rate)
        downmixed = sum(1 for i in converted if infos[i].channels > 1)
        lines.append(
            f"- Converted copies under `audio/`: {len(converted)} ({resampled} resampled to "
            f"{opts.sample_rate} Hz with scipy.signal.resample_poly, {downmixed} downmixed to mono)."
        )
    if copied:
        lines.append(f"- Copied under `audio/` (--copy_audio): {len(copied)}.")
    verb = "dropped (--drop_short)" if opts.drop_short else "kept (recipes/train.py repeats them to the crop length)"
    lines.append(
        f"- Shorter than --min_seconds {opts.min_seconds:g} s: {len(short)}, {verb}"
        + (f": {_listing(short, 20)}" if short else "")
        + "."
    )
    lines += ["", "## Dropped", ""]
    groups = _grouped(result.dropped)
    if not groups and not dropped_test and not (opts.drop_short and short):
        lines.append("Nothing was dropped.")
    else:
        lines += ["| reason | count |", "|---|---|"]
        lines += [f"| {PROBLEM_KINDS[k][0]} | {len(v)} |" for k, v in groups.items()]
        if opts.drop_short and short:
            lines.append(f"| shorter than {opts.min_seconds:g} s (--drop_short) | {len(short)} |")
        if dropped_test:
            lines.append(f"| test speaker with fewer than 2 utterances | {len(dropped_test)} |")
        for kind, items in groups.items():
            lines += ["", f"### {PROBLEM_KINDS[kind][0]}", ""]
            lines += [f"- `{p.file}`: {p.reason}" for p in items]
        if dropped_test:
            lines += ["", "### test speakers with fewer than 2 utterances", ""]
            lines += [f"- `{i}`" for i in dropped_test]
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"
