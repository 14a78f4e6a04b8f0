"""Every audio file of the training CSVs checked before the first training step.

A missing, empty, unreadable, wrongly sampled or non-finite file, or a ``start``/``stop``
outside its file, used to crash training mid-epoch when the file was first read.
:func:`check_csv_audio` reads every row of the CSVs once, up front, and lists *all* the
problems with CSV file, line and utterance ID; :func:`audio_verdict` turns that into the
``audio`` verdict that ``recipes/train.py`` (FAIL stops the run) and ``recipes/diagnose.py``
report. The dev set's 1008 files take about a second; a progress bar shows on big corpora.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import soundfile as sf

from custom_modules.data.dataio import read_speaker_csv, row_segments
from custom_modules.diagnostics.verdicts import FAIL, PASS, Verdict

__all__ = ["check_csv_audio", "audio_verdict", "audio_warnings", "PROGRESS_FROM"]

PROGRESS_FROM = 5000  # rows; a bigger CSV shows a progress bar


def _file_problem(path: str, sample_rate: Optional[int], cache: Dict[str, object]) -> object:
    """The number of samples of a file, or the text of what is wrong with it (cached per path;
    the samples themselves are read once and dropped)."""
    if path in cache:
        return cache[path]
    if not os.path.isfile(path):
        result: object = "file not found"
    else:
        try:
            with sf.SoundFile(path) as handle:
                rate, frames = handle.samplerate, handle.frames
                samples = handle.read(dtype="float32", always_2d=True)
        except Exception as error:  # noqa: BLE001 - soundfile raises several types for bad files
            result = f"unreadable as audio ({type(error).__name__}: {str(error).splitlines()[0][:120]})"
        else:
            if frames == 0 or samples.size == 0:
                result = "empty (0 samples)"
            elif sample_rate is not None and rate != sample_rate:
                result = f"sample rate {rate} Hz, expected {sample_rate} Hz (resample it, e.g. with recipes/prepare.py)"
            elif not np.isfinite(samples).all():
                result = f"{int((~np.isfinite(samples)).sum())} NaN/Inf samples"
            else:
                result = int(frames)
    cache[path] = result
    return result


def check_csv_audio(
    csv_path: str,
    data_folder: str,
    sample_rate: Optional[int],
    progress: Optional[bool] = None,
    rows: Optional[List[Dict[str, str]]] = None,
) -> List[str]:
    """Every problem of the audio that ``csv_path`` names, one line each:
    ``<csv>, line <n> (<ID>): <wav path>: <problem>``. Empty when all rows are usable.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> sf.write(os.path.join(folder, "a.wav"), np.full(1600, 0.1, dtype="float32"), 16000)
    >>> _ = open(os.path.join(folder, "train.csv"), "w").write(
    ...     "ID,wav,spk_id,start,stop\\nu1,a.wav,s1,0,1600\\nu2,a.wav,s1,0,3200\\nu3,b.wav,s2,,\\n")
    >>> for line in check_csv_audio(os.path.join(folder, "train.csv"), folder, 16000):
    ...     print(line.split(": ", 1)[1].split(": ")[-1])
    start/stop 0-3200 outside the file's 1600 samples
    file not found
    """
    rows = read_speaker_csv(csv_path) if rows is None else rows
    show = progress if progress is not None else len(rows) >= PROGRESS_FROM
    iterator = enumerate(rows, start=2)  # line 1 is the header
    if show:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(rows), desc=f"checking the audio of {os.path.basename(csv_path)}")
    problems: List[str] = []
    cache: Dict[str, object] = {}
    for line, row in iterator:
        where = f"{csv_path}, line {line} ({row.get('ID', '?')})"
        try:
            ((path, start, stop),) = row_segments([row], data_folder)  # as the training reader takes it
        except ValueError:
            problems.append(f"{where}: start/stop {row.get('start')!r}/{row.get('stop')!r} are not sample numbers")
            continue
        where = f"{where}: {path}"
        found = _file_problem(path, sample_rate, cache)
        if isinstance(found, str):
            problems.append(f"{where}: {found}")
            continue
        frames = found
        begin, end = start or 0, frames if stop is None else stop
        if begin < 0 or end > frames or begin >= end:
            problems.append(f"{where}: start/stop {begin}-{end} outside the file's {frames} samples")
    return problems


def audio_verdict(
    csv_paths: Sequence[str], data_folder: str, sample_rate: Optional[int], progress: Optional[bool] = None
) -> Verdict:
    """The ``audio`` verdict over several CSVs: FAIL listing every problem, else PASS with
    the number of rows and the time taken."""
    start = time.time()
    problems: List[str] = []
    rows = 0
    for csv in dict.fromkeys(csv_paths):  # each CSV once, in order
        csv_rows = read_speaker_csv(csv)
        problems += check_csv_audio(csv, data_folder, sample_rate, progress, rows=csv_rows)
        rows += len(csv_rows)
    if problems:
        listed = "\n  ".join(problems)
        return Verdict(
            "audio",
            FAIL,
            f"{len(problems)} of {rows} rows cannot be trained on:\n  {listed}",
            "fix or remove those rows (recipes/prepare.py re-validates a folder of audio and writes clean CSVs)",
        )
    return Verdict(
        "audio",
        PASS,
        f"{rows} rows of {', '.join(dict.fromkeys(csv_paths))}: every file readable, "
        f"{sample_rate} Hz, finite, segments inside their files "
        f"({time.time() - start:.1f} s)",
    )


def audio_warnings(path: str, min_seconds: float = 0.5, silence_rms: float = 1e-4) -> List[str]:
    """What makes one file's embedding unreliable though it can be read: shorter than
    ``min_seconds``, silent (RMS below ``silence_rms``, about -80 dBFS), or channels that
    cancel when averaged to mono (the mono RMS under a tenth of the channels'). For
    ``recipes/verify.py`` and ``recipes/embed.py``, which warn and go on (an unreadable file
    gives no warning here: the audio reader names it).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> tone = 0.1 * np.sin(np.arange(16000) / 5.0).astype("float32")
    >>> sf.write(path, np.stack([tone, -tone], axis=1), 16000, subtype="FLOAT")
    >>> audio_warnings(path)
    ['its 2 channels cancel when averaged to mono (mono RMS 0 against 0.0707 per channel)']
    """
    try:
        samples, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception:  # noqa: BLE001 - unreadable files are named by the readers that need them
        return []
    found: List[str] = []
    seconds = samples.shape[0] / rate
    if seconds < min_seconds:
        found.append(
            f"only {samples.shape[0]} samples ({seconds:.3f} s): an embedding needs about {min_seconds} s or more"
        )
    channel_rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0
    mono_rms = float(np.sqrt(np.mean(samples.mean(axis=1).astype(np.float64) ** 2))) if samples.size else 0.0
    if channel_rms < silence_rms:
        found.append(f"silent (RMS {channel_rms:.1e}, below {silence_rms:g})")
    elif samples.shape[1] > 1 and mono_rms < 0.1 * channel_rms:
        found.append(
            f"its {samples.shape[1]} channels cancel when averaged to mono (mono RMS {mono_rms:.3g} "
            f"against {channel_rms:.3g} per channel)"
        )
    return found
