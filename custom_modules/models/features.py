"""Acoustic features for speaker embeddings, selectable by name in the hparams.

``SpeakerFeatures(kind="fbank")`` gives log Mel filterbanks (80 by default, as the
ECAPA and WeSpeaker recipes use); ``kind="mfcc"`` gives static MFCCs (what the user who
started this project had). Both come from SpeechBrain's feature lobes, 25 ms windows
every 10 ms, so a (batch, samples) waveform becomes (batch, frames, n_features).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["SpeakerFeatures"]


class SpeakerFeatures(nn.Module):
    """Fbank or MFCC features of a waveform batch.

    Arguments
    ---------
    kind : str
        ``"fbank"`` or ``"mfcc"``.
    n_features : int
        Mel bins (fbank) or cepstral coefficients (mfcc); the encoder's ``input_size``.
    sample_rate : int
        Sample rate of the waveforms.
    n_mels : int, optional
        Mel bins behind the MFCCs (default: ``max(n_features, 40)``); ignored for fbank.

    Example
    -------
    >>> wavs = torch.randn(2, 16000)
    >>> SpeakerFeatures("fbank", 80)(wavs).shape
    torch.Size([2, 101, 80])
    >>> SpeakerFeatures("mfcc", 30)(wavs).shape
    torch.Size([2, 101, 30])
    """

    def __init__(
        self, kind: str = "fbank", n_features: int = 80, sample_rate: int = 16000, n_mels: int | None = None
    ) -> None:
        super().__init__()
        from speechbrain.lobes.features import MFCC, Fbank

        self.kind, self.n_features = kind, int(n_features)
        self.hop_samples = sample_rate // 100  # SpeechBrain's 10 ms hop, centred frames
        if kind == "fbank":
            self.extract: nn.Module = Fbank(n_mels=self.n_features, sample_rate=sample_rate)
        elif kind == "mfcc":
            n_mels = n_mels or max(self.n_features, 40)
            if n_mels < self.n_features:
                raise ValueError(f"MFCC needs n_mels >= n_features, got n_mels={n_mels}, n_features={n_features}")
            self.extract = MFCC(
                n_mfcc=self.n_features, n_mels=n_mels, sample_rate=sample_rate, deltas=False, context=False
            )
        else:
            raise ValueError(f"feature kind must be 'fbank' or 'mfcc', got {kind!r}")

    def forward(self, wavs: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> (batch, frames, n_features), float32."""
        with torch.autocast(device_type=wavs.device.type, enabled=False):
            return self.extract(wavs.float())
