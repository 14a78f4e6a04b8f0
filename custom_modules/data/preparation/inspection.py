"""Audio inspection and conversion for a preparation.

:func:`inspect_audio` reads one segment and says whether it is usable (missing, corrupt,
empty, silent, NaN/Inf, out-of-range segment); :func:`inspect_all` runs it over every
utterance (in worker processes with ``jobs > 1``); :func:`convert_audio` writes a mono copy
at the target rate and :func:`copy_name` names copies under ``audio/``.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import hashlib
import math
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

from custom_modules.data.preparation.records import AudioInfo, Utterance


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


def inspect_all(
    utterances: Sequence[Utterance], silence_peak: float, jobs: int, log: Callable[[str], None]
) -> List[Tuple[Optional[AudioInfo], Optional[str], str]]:
    items = [(u.path, u.start, u.stop, silence_peak) for u in utterances]
    if len(items) > 2000:
        log(f"reading {len(items)} audio segments with {jobs} process(es) ...")
    if jobs > 1 and len(items) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(_inspect_job, items, chunksize=64))
    return [_inspect_job(item) for item in items]


def convert_audio(utt: Utterance, info: AudioInfo, target: str, sample_rate: int) -> Tuple[int, str]:
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


def copy_name(uid: str) -> str:
    parts = [p if p not in ("", ".", "..") else "_" for p in uid.split("/")]
    return os.path.join("audio", *parts)
