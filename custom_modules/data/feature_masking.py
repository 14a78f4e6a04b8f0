"""Time and frequency masking of features (SpeechBrain's ``SpectrogramDrop``), applied after
feature normalisation during training.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from custom_modules.data.padded_batch import _check_probability, _check_range, _select_items

__all__ = ["FeatureMasking"]


class FeatureMasking(nn.Module):
    """Time and frequency masking of (B, T, F) features with SpeechBrain's ``SpectrogramDrop``.

    Each item is selected with probability ``prob``; the selected items get
    ``time_count_low..time_count_high`` time masks of ``time_width_low..time_width_high``
    frames, then ``freq_count_low..freq_count_high`` frequency masks of
    ``freq_width_low..freq_width_high`` bins (all ranges inclusive; a count of 0
    disables that kind). Masked values are replaced as ``SpectrogramDrop``'s ``replace``
    says (default zeros: after mean normalisation, the mean). As in ``SpectrogramDrop``,
    mask positions are drawn over the whole padded length, and the number of masks is
    drawn once per call. Apply it after feature normalisation, before the encoder.

    Example
    -------
    >>> masking = FeatureMasking(prob=1.0)
    >>> feats = torch.rand(2, 100, 40) + 1.0
    >>> out = masking(feats, torch.ones(2))
    >>> out.shape, bool((out == 0).any()), bool((feats > 0).all())
    (torch.Size([2, 100, 40]), True, True)
    """

    def __init__(
        self,
        time_width_low: int = 1,
        time_width_high: int = 10,
        time_count_low: int = 1,
        time_count_high: int = 1,
        freq_width_low: int = 1,
        freq_width_high: int = 8,
        freq_count_low: int = 1,
        freq_count_high: int = 1,
        prob: float = 0.6,
        replace: str = "zeros",
    ) -> None:
        super().__init__()
        from speechbrain.augment.freq_domain import SpectrogramDrop

        ranges = {
            "time_width": (time_width_low, time_width_high),
            "time_count": (time_count_low, time_count_high),
            "freq_width": (freq_width_low, freq_width_high),
            "freq_count": (freq_count_low, freq_count_high),
        }
        for name, (low, high) in ranges.items():
            if low < 0:
                raise ValueError(f"{name}_low={low}: widths and counts must be >= 0")
            _check_range(f"{name}_low", low, f"{name}_high", high)
        if replace == "random_selection":
            raise ValueError(
                "replace='random_selection' draws from Python's random module (not reproducible with torch "
                "seeds): choose one of zeros, mean, rand, cutcat, swap"
            )
        self.prob = _check_probability("prob", prob)
        # SpectrogramDrop draws widths with torch.randint(low, high): high is exclusive there
        self.time_masking = SpectrogramDrop(
            time_width_low, time_width_high + 1, time_count_low, time_count_high, replace=replace, dim=1
        )
        self.freq_masking = SpectrogramDrop(
            freq_width_low, freq_width_high + 1, freq_count_low, freq_count_high, replace=replace, dim=2
        )

    def forward(self, feats: torch.Tensor, lens: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Return masked features; ``lens`` is accepted for the (feats, lens) interface."""
        if feats.dim() != 3:
            raise ValueError(f"feats has shape {tuple(feats.shape)}: expected (batch, time, features)")
        items = torch.nonzero(_select_items(feats.shape[0], self.prob, feats.device, None)).squeeze(1)
        if items.numel() == 0:
            return feats
        chosen = feats[items]  # a copy: SpectrogramDrop masks in place
        chosen = self.freq_masking(self.time_masking(chosen))
        out = feats.clone()
        out[items] = chosen
        return out
