"""Waveforms -> speaker embeddings, the one path shared by training, evaluation and export.

``compute_embeddings`` is what ``recipes/train.py`` calls in ``compute_forward`` and what
``EmbeddingExtractor`` runs at evaluation time, so a model is always evaluated exactly as
it was trained. Relative lengths are converted from samples to frames exactly
(``frames = 1 + samples // hop`` for centred STFT frames), so padding in a batch never
adds or removes a frame of a shorter utterance.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from custom_modules.data.audio import batch_plan, segment_length, windows

__all__ = [
    "frame_lengths",
    "compute_embeddings",
    "EmbeddingExtractor",
    "pad_batch",
    "segment_length",
    "windows",
    "embed_utterances",
    "MAX_SECONDS",
    "BATCH_SECONDS",
]


def frame_lengths(wav_lens: torch.Tensor, num_samples: int, num_frames: int, hop: Optional[int]) -> torch.Tensor:
    """Relative lengths in frames for relative lengths in samples.

    With centred frames every ``hop`` samples, ``n`` samples give ``1 + n // hop`` frames.
    Without a known hop the relative lengths are returned unchanged.

    Example
    -------
    >>> frame_lengths(torch.tensor([1.0, 0.5]), 16000, 101, 160).mul(101).round().tolist()
    [101.0, 51.0]
    """
    if hop is None:
        return wav_lens
    samples = torch.round(wav_lens.float() * num_samples).long()
    frames = (1 + torch.div(samples, hop, rounding_mode="floor")).clamp(max=num_frames)
    return frames.float() / num_frames


def compute_embeddings(
    compute_features: nn.Module,
    mean_var_norm: nn.Module,
    embedding_model: nn.Module,
    wavs: torch.Tensor,
    wav_lens: torch.Tensor,
    feature_augment: Optional[nn.Module] = None,
) -> torch.Tensor:
    """Features -> normalisation -> encoder for a padded batch; returns (B, 1, D).

    ``feature_augment`` (training only, e.g. time/frequency masking) is applied to the
    normalised features as ``feature_augment(feats, lens)``.
    """
    feats = compute_features(wavs)
    hop = getattr(compute_features, "hop_samples", None)
    lens = frame_lengths(wav_lens, wavs.shape[1], feats.shape[1], hop)
    feats = mean_var_norm(feats, lens)
    if feature_augment is not None:
        feats = feature_augment(feats, lens)
    return embedding_model(feats, lens)


class EmbeddingExtractor(nn.Module):
    """The trained feature pipeline and encoder as one module.

    Example
    -------
    >>> from custom_modules.models.features import SpeakerFeatures
    >>> from custom_modules.models.res2net import Res2Net50
    >>> from speechbrain.processing.features import InputNormalization
    >>> extractor = EmbeddingExtractor(SpeakerFeatures("fbank", 40),
    ...     InputNormalization(norm_type="sentence", std_norm=False),
    ...     Res2Net50(input_size=40, m_channels=4, embedding_dim=16)).eval()
    >>> extractor(torch.randn(2, 8000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 1, 16])
    """

    def __init__(self, compute_features: nn.Module, mean_var_norm: nn.Module, embedding_model: nn.Module) -> None:
        super().__init__()
        self.compute_features = compute_features
        self.mean_var_norm = mean_var_norm
        self.embedding_model = embedding_model

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor) -> torch.Tensor:
        return compute_embeddings(self.compute_features, self.mean_var_norm, self.embedding_model, wavs, wav_lens)


def pad_batch(signals: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad 1-D signals to a (B, T) batch with SpeechBrain relative lengths.

    Example
    -------
    >>> wavs, lens = pad_batch([torch.ones(4), torch.ones(2)])
    >>> wavs.tolist(), lens.tolist()
    ([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]], [1.0, 0.5])
    """
    longest = max(s.shape[0] for s in signals)
    wavs = torch.zeros(len(signals), longest)
    for row, signal in enumerate(signals):
        wavs[row, : signal.shape[0]] = signal
    lens = torch.tensor([s.shape[0] / longest for s in signals])
    return wavs, lens


MAX_SECONDS = 30.0  # longer segments: the mean embedding of windows this long, half overlapping
BATCH_SECONDS = 120.0  # padded audio per batch at most: what bounds the memory of embedding


@torch.no_grad()
def embed_utterances(
    extractor: nn.Module,
    segments: Sequence[Tuple[str, Optional[int], Optional[int]]],
    sample_rate: int = 16000,
    batch_size: int = 16,
    device: str = "cpu",
    progress: bool = False,
    max_seconds: Optional[float] = MAX_SECONDS,
    batch_seconds: Optional[float] = BATCH_SECONDS,
) -> np.ndarray:
    """Embed audio segments ``(path, start, stop)``; (N, D) float32 in input order.

    A segment of at most ``max_seconds`` is embedded whole; a longer one is the mean of the
    embeddings of ``max_seconds`` windows with half overlap (:func:`windows`), so a long
    file never needs more than one window in memory. Audio is read batch by batch (never
    all at once), in order of length so that padding (wasted compute) stays small; a batch
    holds at most ``batch_size`` pieces and ``batch_seconds`` of padded audio (at least one
    piece), which bounds the memory. The length-aware encoder makes the result independent
    of the batching. None for ``max_seconds`` or ``batch_seconds`` lifts that bound.
    """
    from custom_modules.data.dataio import load_audio

    batches = batch_plan(segments, sample_rate, batch_size, max_seconds, batch_seconds, progress)
    sums: List[Optional[np.ndarray]] = [None] * len(segments)
    counts = [0] * len(segments)
    extractor.eval()
    for chosen in batches:
        wavs, lens = pad_batch([load_audio(path, a, b, sample_rate=sample_rate) for _, path, a, b, _ in chosen])
        emb = extractor(wavs.to(device), lens.to(device)).reshape(len(chosen), -1).float().cpu().numpy()
        for row, (index, *_rest) in enumerate(chosen):
            sums[index] = emb[row].astype(np.float64) if sums[index] is None else sums[index] + emb[row]
            counts[index] += 1
    return np.stack([total / count for total, count in zip(sums, counts)]).astype(np.float32)
