"""Reading audio for the data pipelines: paths from CSV rows, checked mono samples (NumPy, no
torch needed: the ONNX runtime path reads audio with it too), crops and windows.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

from custom_modules.data.errors import DataError

if TYPE_CHECKING:
    import torch

__all__ = [
    "resolve_audio_path",
    "read_samples",
    "load_audio",
    "crop_or_repeat",
    "read_crop",
    "segment_length",
    "windows",
]


def resolve_audio_path(path: str, data_folder: str) -> str:
    """Absolute paths stay; ``$data_root/x`` and relative ``x`` are taken under data_folder.

    Example
    -------
    >>> resolve_audio_path("$data_root/wav/a.wav", "/data")
    '/data/wav/a.wav'
    >>> resolve_audio_path("wav/a.wav", "/data"), resolve_audio_path("/x/a.wav", "/data")
    ('/data/wav/a.wav', '/x/a.wav')
    """
    if path.startswith("$data_root"):
        path = path[len("$data_root") :].lstrip("/")
    return path if os.path.isabs(path) else os.path.join(data_folder, path)


def read_samples(
    path: str,
    start: Optional[int] = None,
    stop: Optional[int] = None,
    sample_rate: Optional[int] = None,
) -> np.ndarray:
    """Read samples ``[start, stop)`` of a file as a mono float32 NumPy array (soundfile).

    Multi-channel audio is averaged to mono. Raises :class:`DataError` naming the file
    when it is missing, unreadable, empty, at another sample rate than expected, or holds
    NaN/Inf samples.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> sf.write(path, np.zeros(1600, dtype="float32"), 16000)
    >>> read_samples(path, 100, 500, sample_rate=16000).shape
    (400,)
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: audio file not found (check the CSV's wav column and --data_folder)")
    try:
        samples, rate = sf.read(path, start=start or 0, stop=stop, dtype="float32", always_2d=True)
    except Exception as error:  # soundfile raises several types for corrupt files
        raise DataError(f"{path}: unreadable audio ({error})") from error
    if sample_rate is not None and rate != sample_rate:
        raise DataError(
            f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz; resample the data "
            f"(e.g. with recipes/prepare.py) or set sample_rate in the hparams"
        )
    if samples.shape[0] == 0:
        raise DataError(f"{path}: no samples in [{start}, {stop})")
    if not np.isfinite(samples).all():
        raise DataError(f"{path}: {int((~np.isfinite(samples)).sum())} NaN/Inf samples")
    return samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]


def load_audio(
    path: str,
    start: Optional[int] = None,
    stop: Optional[int] = None,
    sample_rate: Optional[int] = None,
) -> torch.Tensor:
    """:func:`read_samples` as a torch tensor.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> sf.write(path, np.zeros(1600, dtype="float32"), 16000)
    >>> load_audio(path, 100, 500, sample_rate=16000).shape
    torch.Size([400])
    """
    import torch

    return torch.from_numpy(read_samples(path, start, stop, sample_rate))


def crop_or_repeat(
    signal: torch.Tensor, num_samples: int, random: bool = True, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Exactly ``num_samples`` samples: a crop (random or centred) or, for a short
    signal, the signal repeated (tiled) and cut. Never fails on short input.

    Example
    -------
    >>> import torch
    >>> crop_or_repeat(torch.arange(3.0), 7).tolist()
    [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0]
    >>> crop_or_repeat(torch.arange(10.0), 4, random=False).tolist()
    [3.0, 4.0, 5.0, 6.0]
    """
    import torch

    length = signal.shape[0]
    if length == 0:
        raise DataError("cannot crop an empty signal")
    if length < num_samples:
        repeats = -(-num_samples // length)
        return signal.repeat(repeats)[:num_samples]
    if random:
        offset = int(torch.randint(0, length - num_samples + 1, (1,), generator=generator))
    else:
        offset = (length - num_samples) // 2
    return signal[offset : offset + num_samples]


def read_crop(
    path: str,
    num_samples: int,
    start: Optional[int] = None,
    stop: Optional[int] = None,
    random: bool = True,
    sample_rate: Optional[int] = None,
) -> torch.Tensor:
    """Read a ``num_samples`` crop of segment ``[start, stop)`` reading only those frames.

    A segment shorter than the crop is read whole and repeated (see :func:`crop_or_repeat`).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> sf.write(path, np.arange(100, dtype="float32") / 100, 1000)
    >>> read_crop(path, 40, random=False).shape, read_crop(path, 250).shape
    (torch.Size([40]), torch.Size([250]))
    """
    import torch

    start = int(start or 0)
    if stop is None:
        try:
            stop = sf.info(path).frames
        except Exception as error:
            if not os.path.isfile(path):
                raise DataError(
                    f"{path}: audio file not found (check the CSV's wav column and --data_folder)"
                ) from error
            raise DataError(f"{path}: unreadable audio ({error})") from error
    length = int(stop) - start
    if length <= num_samples:
        return crop_or_repeat(load_audio(path, start, stop, sample_rate), num_samples)
    offset = int(torch.randint(0, length - num_samples + 1, (1,))) if random else (length - num_samples) // 2
    return load_audio(path, start + offset, start + offset + num_samples, sample_rate)


def segment_length(path: str, start: Optional[int], stop: Optional[int]) -> int:
    """Samples in ``[start, stop)`` of a file (``stop=None``: to the end)."""
    if stop is None:
        try:
            stop = sf.info(path).frames
        except Exception as error:
            raise DataError(f"{path}: unreadable or missing audio ({error})") from error
    return int(stop) - int(start or 0)


def windows(start: int, stop: int, window: int) -> List[Tuple[int, int]]:
    """``[start, stop)`` cut into windows of ``window`` samples every ``window // 2``, the
    last one ending at ``stop``; one window when the span is not longer than ``window``.

    Example
    -------
    >>> windows(0, 10, 4)
    [(0, 4), (2, 6), (4, 8), (6, 10)]
    >>> windows(5, 8, 4)
    [(5, 8)]
    """
    if stop - start <= window:
        return [(start, stop)]
    hop = max(1, window // 2)
    starts = list(range(start, stop - window, hop)) + [stop - window]
    return [(a, a + window) for a in dict.fromkeys(starts)]


Piece = Tuple[int, str, Optional[int], Optional[int], int]  # segment index, path, start, stop, samples


def batch_plan(
    segments: Sequence[Tuple[str, Optional[int], Optional[int]]],
    sample_rate: int,
    batch_size: int,
    max_seconds: Optional[float],
    batch_seconds: Optional[float],
    progress: bool = False,
) -> Iterable[List[Piece]]:
    """How an embedder reads ``segments`` ``(path, start, stop)``: a segment longer than
    ``max_seconds`` becomes its half-overlapping windows (:func:`windows`), pieces go in
    order of length (little padding), and a batch holds at most ``batch_size`` pieces and
    ``batch_seconds`` of padded audio (at least one piece). None lifts a bound. Each piece
    names its segment, so the embeddings of a segment's windows can be averaged.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros(10), 1)
    >>> [[p[0] for p in batch] for batch in batch_plan([(path, None, None), (path, 0, 3)], 1, 2, 4, 8)]
    [[1, 0], [0, 0], [0]]
    """
    max_samples = int(max_seconds * sample_rate) if max_seconds else None
    budget = int(batch_seconds * sample_rate) if batch_seconds else None
    pieces: List[Piece] = []
    for index, (path, start, stop) in enumerate(segments):
        length = segment_length(path, start, stop)
        if max_samples and length > max_samples:
            first = int(start or 0)
            pieces.extend((index, path, a, b, b - a) for a, b in windows(first, first + length, max_samples))
        else:
            pieces.append((index, path, start, stop, length))
    pieces.sort(key=lambda piece: piece[4])
    batches: List[List[Piece]] = []
    for piece in pieces:  # ascending lengths: the newest piece is the longest
        current = batches[-1] if batches else None
        if current is None or len(current) >= batch_size or (budget and (len(current) + 1) * piece[4] > budget):
            batches.append([piece])
        else:
            current.append(piece)
    if progress:
        from tqdm import tqdm

        return tqdm(batches, desc="embedding", unit="batch")
    return batches
