"""Reading the input formats of a preparation: CSV, folder of speaker folders, Kaldi, VoxCeleb.

:func:`detect_format` picks the format of a source and :func:`read_source` dispatches to its
reader; each reader returns ``(utterances, problems, notes)`` without opening the audio
beyond its header.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from typing import Dict, List, Optional, Sequence, Set, Tuple

import soundfile as sf

from custom_modules.data.dataio import DataError, resolve_audio_path
from custom_modules.data.preparation.records import (
    AUDIO_EXTENSIONS,
    FORMATS,
    PrepareOptions,
    Problem,
    Utterance,
)
from custom_modules.data.preparation.report import listing


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


def has_whitespace(text: str) -> bool:
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
        notes.append(f"ignored {len(ignored)} non-audio file(s) (only .wav and .flac are read): {listing(ignored)}")
    if outside:
        notes.append(f"ignored {len(outside)} audio file(s) outside the speaker sub-folders: {listing(outside)}")
    if empty_speakers:
        notes.append(f"{len(empty_speakers)} sub-folder(s) without audio: {listing(empty_speakers)}")
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
    recordings, refused = _kaldi_recordings(scp, folder, problems)
    speakers: Dict[str, str] = {}
    for number, utt, spk in _kaldi_table(utt2spk_path):
        if not spk or len(spk.split()) != 1:
            problems.append(Problem("source", utt2spk_path, f"line {number}: expected '<utt> <speaker>' for {utt!r}"))
        else:
            speakers[utt] = spk
    segments_path = os.path.join(folder, "segments")
    if os.path.isfile(segments_path):
        listed = _kaldi_segments(segments_path, recordings, refused, problems)
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
        notes.append(f"{len(unlisted)} utt2spk entr(ies) without audio in wav.scp/segments: {listing(unlisted)}")
    return utterances, problems, notes


def _kaldi_recordings(scp: str, folder: str, problems: List[Problem]) -> Tuple[Dict[str, str], Set[str]]:
    """``wav.scp``'s plain audio paths by key (relative paths from the current directory, else
    the data dir), and the keys refused (piped commands, archives), each reported in ``problems``."""
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
    return recordings, refused


def _kaldi_segments(
    segments_path: str, recordings: Dict[str, str], refused: Set[str], problems: List[Problem]
) -> List[Tuple[str, str, Optional[int], Optional[int], str]]:
    """``segments`` lines as (utt, audio path, start, stop, origin), in samples (end -1: the end
    of the file); segments of refused recordings are refused too (added to ``refused``)."""
    listed = []
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
            problems.append(Problem("source", segments_path, f"line {number}: recording {reco!r} is not in wav.scp"))
            continue
        rate = _sample_rate_or_none(recordings[reco]) or 1  # unreadable files are reported later
        start = int(round(begin * rate))
        stop = int(round(end * rate)) if end >= 0 else None
        listed.append((utt, recordings[reco], start, stop, f"segments line {number}"))
    return listed


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
