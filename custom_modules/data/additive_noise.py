"""Additive noise written here for the training augmentation: coloured noise for
SpeechBrain's ``AddNoise``, and babble from other speakers of the same batch
(see :mod:`custom_modules.data.augmentation`).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import nn

from custom_modules.data.padded_batch import (
    _check_probability,
    _check_range,
    _flat_labels,
    _randint,
    _rms_over_valid,
    _select_items,
    _uniform,
    padding_mask,
    valid_sample_counts,
)

__all__ = ["coloured_noise", "BabbleNoise"]


def coloured_noise(like: torch.Tensor, beta_low: float = 0.0, beta_high: float = 2.0) -> torch.Tensor:
    """Gaussian noise with a 1/f^beta power spectrum, beta uniform in [beta_low, beta_high] per item.

    beta = 0 is white, 1 pink, 2 brown (red) noise. The shaping is SpeechBrain's
    ``pink_noise_like``, whose ``alpha`` shapes the amplitude spectrum (``alpha = beta / 2``);
    each item is then made zero-mean with unit variance. Use it as
    ``AddNoise(noise_funct=coloured_noise)``; ``functools.partial(coloured_noise,
    beta_low=b, beta_high=b)`` fixes beta. Items shorter than 4 samples get white noise.

    Arguments
    ---------
    like : torch.Tensor
        (B, T) or (B, T, C) tensor giving the shape, dtype and device.
    beta_low, beta_high : float
        Range of the spectral exponent.

    Returns
    -------
    torch.Tensor
        Noise shaped like ``like``.

    Example
    -------
    >>> noise = coloured_noise(torch.zeros(3, 16000))
    >>> noise.shape, bool(torch.allclose(noise.std(dim=1), torch.ones(3), atol=1e-3))
    (torch.Size([3, 16000]), True)
    """
    from speechbrain.augment.time_domain import pink_noise_like

    _check_range("beta_low", beta_low, "beta_high", beta_high)
    if like.shape[1] < 4:
        noise = torch.randn_like(like)
    else:
        noise = pink_noise_like(like, alpha_low=beta_low / 2.0, alpha_high=beta_high / 2.0)
    noise = noise - noise.mean(dim=1, keepdim=True)
    return noise / noise.std(dim=1, keepdim=True).clamp(min=1e-12)


class BabbleNoise(nn.Module):
    """Add a mix of other speakers' utterances from the same batch at a random SNR.

    For each selected item, between ``speaker_count[0]`` and ``speaker_count[1]``
    utterances (inclusive) are drawn from *distinct other speakers* of the batch (items
    with the same label are never used; if fewer other speakers are present, all of
    them are used; with none, the item is unchanged). Each source is scaled to unit RMS,
    repeated from a random offset to cover the target (circularly over its own valid
    samples), summed, and added over the target's valid samples at an SNR uniform in
    [snr_low, snr_high] dB, measured over the target's valid samples:
    ``10 log10(mean(target^2) / mean(babble^2))``. Sources are taken from the input batch.

    Arguments
    ---------
    speaker_count : (int, int)
        Inclusive range of the number of babble speakers.
    snr_low, snr_high : float
        SNR range in dB.
    prob : float
        Probability that an item receives babble.
    generator : torch.Generator, optional
        Source of the random draws.

    Example
    -------
    >>> babble = BabbleNoise(speaker_count=(1, 2), snr_low=5, snr_high=20)
    >>> wavs, lens = torch.randn(4, 800), torch.tensor([1.0, 0.5, 1.0, 0.75])
    >>> out = babble(wavs, lens, torch.tensor([0, 0, 1, 2]))
    >>> out.shape, bool(torch.equal(out[1, 400:], wavs[1, 400:]))  # the padding is left alone
    (torch.Size([4, 800]), True)
    """

    def __init__(
        self,
        speaker_count: Sequence[int] = (3, 6),
        snr_low: float = 5.0,
        snr_high: float = 20.0,
        prob: float = 1.0,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        super().__init__()
        low, high = (int(c) for c in speaker_count)
        if low < 1:
            raise ValueError(f"speaker_count={list(speaker_count)}: the smallest count must be >= 1, e.g. (3, 6)")
        _check_range("speaker_count[0]", low, "speaker_count[1]", high)
        _check_range("snr_low", snr_low, "snr_high", snr_high)
        self.speaker_count = (low, high)
        self.snr_low, self.snr_high = float(snr_low), float(snr_high)
        self.prob = _check_probability("prob", prob)
        self.generator = generator

    def choose_sources(self, labels: torch.Tensor, usable: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, K) source indices and (B, K) bool validity: distinct other speakers per target."""
        batch = labels.shape[0]
        device = labels.device
        draw_device = self.generator.device if self.generator is not None else device
        scores = torch.rand(batch, batch, generator=self.generator, device=draw_device).to(device)
        eligible = (labels.unsqueeze(0) != labels.unsqueeze(1)) & usable.unsqueeze(0)
        scores = scores.masked_fill(~eligible, -1.0)
        # keep one candidate per (target, speaker): the best-scoring utterance of that speaker
        _, speaker_index = torch.unique(labels, return_inverse=True)
        num_groups = int(speaker_index.max()) + 1
        best = torch.full((batch, num_groups), -1.0, device=device).scatter_reduce(
            1, speaker_index.unsqueeze(0).expand(batch, batch), scores, reduce="amax"
        )
        candidate = eligible & (scores == best.gather(1, speaker_index.unsqueeze(0).expand(batch, batch)))
        scores = scores.masked_fill(~candidate, -1.0)
        k_max = min(self.speaker_count[1], batch)
        top_scores, sources = scores.topk(k_max, dim=1)
        wanted = _randint(self.speaker_count[0], self.speaker_count[1], batch, device, self.generator)
        slot = torch.arange(k_max, device=device).unsqueeze(0)
        valid = (top_scores >= 0) & (slot < wanted.unsqueeze(1))
        return sources, valid

    def forward(self, wavs: torch.Tensor, lens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Return ``wavs`` with babble added to the selected items."""
        batch, total = wavs.shape
        if batch < 2:
            return wavs
        device = wavs.device
        counts = valid_sample_counts(lens, total)
        mask = padding_mask(counts, total).to(wavs.dtype)
        source_rms = _rms_over_valid(wavs, mask)
        labels = _flat_labels(labels, batch).to(device)
        sources, valid = self.choose_sources(labels, (counts > 0) & (source_rms > 0))

        # source j of target i, repeated from a random offset over its own valid samples
        source_counts = counts[sources].clamp(min=1)  # (B, K)
        offsets = torch.floor(
            _uniform(0.0, 1.0, sources.numel(), device, self.generator).view_as(sources) * source_counts
        ).long()
        weights = valid.to(wavs.dtype) / source_rms[sources].clamp(min=1e-12)  # (B, K)
        time_index = torch.arange(total, device=device).unsqueeze(0)
        babble = torch.zeros_like(wavs)
        for slot in range(sources.shape[1]):  # at most speaker_count[1] slots: keeps memory at (B, T)
            positions = (offsets[:, slot : slot + 1] + time_index) % source_counts[:, slot : slot + 1]
            piece = torch.gather(wavs[sources[:, slot]], 1, positions)
            babble += weights[:, slot : slot + 1] * piece
        babble = babble * mask

        target_power = _rms_over_valid(wavs, mask).pow(2)
        babble_power = _rms_over_valid(babble, mask).pow(2)
        snr_db = _uniform(self.snr_low, self.snr_high, batch, device, self.generator)
        gain = torch.sqrt(target_power / (babble_power.clamp(min=1e-20) * 10.0 ** (snr_db / 10.0)))
        selected = _select_items(batch, self.prob, device, self.generator)
        selected = selected & valid.any(dim=1) & (target_power > 0) & (babble_power > 0)
        gain = torch.where(selected, gain, torch.zeros_like(gain))
        return wavs + gain.unsqueeze(1) * babble
