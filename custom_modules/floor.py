"""A verification system that learns nothing: cepstral mean + std per utterance.

Every comparison should show how far learning moved past this floor. The "embedding" of
an utterance is the mean and standard deviation over its valid frames of static MFCCs
(log-Mel cepstra), standardised per dimension with the global mean and standard deviation
of training utterances; trials are scored by cosine like every other system. On the dev
trials (6000 trials, 6 unseen speakers): 20 MFCCs over 40 Mel bins give 21.7% EER with
this standardisation and 36.8% with the global mean removed alone (the std statistics and
c0 then dominate the cosine); 40 MFCCs over 80 bins give 18.0%. A model that does worse has
learned less about voices than simple channel and spectral statistics already carry.

``CepstralStatistics`` has the interface of an embedding model (``(batch, time, features)``
plus relative lengths in, ``(batch, 1, 2 * features)`` out), so ``recipes/floor.py`` can
write it in SpeechBrain's pretrained-model layout and ``eval.py`` and ``compare.py`` treat it
as one more system.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from custom_modules.res2net import StatisticsPooling, relative_to_frames

__all__ = ["CepstralStatistics", "NoNormalization"]


class CepstralStatistics(nn.Module):
    """Mean and standard deviation of the features over valid frames, standardised with
    global statistics of training utterances.

    Arguments
    ---------
    input_size : int
        Features per frame.

    Example
    -------
    >>> floor = CepstralStatistics(3)
    >>> x = torch.tensor([[[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [9.0, 9.0, 9.0]]])
    >>> floor(x, torch.tensor([2 / 3])).tolist()
    [[[2.0, 2.0, 2.0, 1.0, 0.0, 1.0]]]
    """

    def __init__(self, input_size: int = 20) -> None:
        super().__init__()
        self.input_size = int(input_size)
        self.pooling = StatisticsPooling(eps=0.0)
        self.register_buffer("global_mean", torch.zeros(2 * self.input_size))
        self.register_buffer("global_std", torch.ones(2 * self.input_size))

    def statistics(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 2 * features) mean and std over the valid frames, before mean removal."""
        frames = relative_to_frames(lengths, x.shape[1], x.shape[0]).to(x.device)
        return self.pooling(x.transpose(1, 2), frames)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return ((self.statistics(x, lengths) - self.global_mean) / self.global_std).unsqueeze(1)

    @torch.no_grad()
    def fit_global_statistics(self, statistics: torch.Tensor) -> None:
        """Set the global mean and std from (N, 2 * features) statistics of training utterances."""
        self.global_mean.copy_(statistics.mean(dim=0))
        self.global_std.copy_(statistics.std(dim=0).clamp(min=1e-8))


class NoNormalization(nn.Module):
    """Stands where a feature normalisation would (``(features, lengths) -> features``)."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return x
