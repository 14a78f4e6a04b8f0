"""Synthetic reverberation for the training augmentation when no impulse-response CSV is
available (see :mod:`custom_modules.data.augmentation`).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from custom_modules.data.padded_batch import (
    _check_probability,
    _check_range,
    _rms_over_valid,
    _select_items,
    _uniform,
    padding_mask,
    valid_sample_counts,
)

__all__ = ["synthetic_impulse_responses", "SyntheticReverb"]


def synthetic_impulse_responses(
    rt60: torch.Tensor,
    sample_rate: int,
    drr_db: Optional[torch.Tensor] = None,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Impulse responses of exponentially decaying Gaussian noise, one per RT60.

    ``h[0]`` is the direct path; the reverberant tail ``h[1:]`` is Gaussian noise with
    amplitude envelope ``10 ** (-3 t / rt60)``, so its energy falls 60 dB at ``t = rt60``.
    The tail's energy is ``10 ** (-drr_db / 10)`` times the direct path's (direct-to-
    reverberant ratio, default 0 dB); each response is normalised to unit energy. The
    length is ``ceil(max(rt60) * sample_rate) + 1`` samples (shorter RT60s are ~0 at the end).

    Example
    -------
    >>> irs = synthetic_impulse_responses(torch.tensor([0.2, 0.5]), 16000)
    >>> irs.shape, [round(v, 4) for v in irs.pow(2).sum(dim=1).tolist()]
    (torch.Size([2, 8001]), [1.0, 1.0])
    """
    rt60 = rt60.float()
    device = rt60.device
    if rt60.numel() and float(rt60.min()) <= 0:
        raise ValueError(f"rt60={rt60.tolist()}: reverberation times must be > 0 seconds")
    # (the 1e-3 keeps float32 rounding, e.g. 0.8 * 16000 = 12800.0002, from adding a sample)
    length = int(math.ceil(float(rt60.max()) * sample_rate - 1e-3)) + 1 if rt60.numel() else 1
    times = torch.arange(length, device=device, dtype=torch.float32) / sample_rate
    envelope = torch.pow(10.0, -3.0 * times.unsqueeze(0) / rt60.unsqueeze(1))
    draw_device = generator.device if generator is not None else device
    tail = torch.randn(rt60.shape[0], length, generator=generator, device=draw_device).to(device) * envelope
    tail[:, 0] = 0.0
    if drr_db is None:
        drr_db = torch.zeros_like(rt60)
    tail_energy = tail.pow(2).sum(dim=1, keepdim=True).clamp(min=1e-20)
    tail = tail * torch.sqrt(10.0 ** (-drr_db.float().to(device).unsqueeze(1) / 10.0) / tail_energy)
    tail[:, 0] = 1.0
    return tail / tail.pow(2).sum(dim=1, keepdim=True).sqrt()


class SyntheticReverb(nn.Module):
    """Reverberate with synthetic impulse responses (for when no RIR CSV is available).

    Each selected item gets its own response from :func:`synthetic_impulse_responses`
    with RT60 uniform in [rt60_low, rt60_high] s and direct-to-reverberant ratio uniform
    in [drr_low, drr_high] dB. The convolution (FFT) keeps the original length and
    alignment (the direct path is at t = 0, so there is no delay), the tail that falls
    into the padding is cut, and the result is rescaled to the item's original RMS over
    its valid samples.

    Arguments
    ---------
    sample_rate : int
        Sample rate of the waveforms.
    rt60_low, rt60_high : float
        RT60 range in seconds.
    drr_low, drr_high : float
        Direct-to-reverberant ratio range in dB.
    prob : float
        Probability that an item is reverberated.
    generator : torch.Generator, optional
        Source of the random draws.

    Example
    -------
    >>> reverb = SyntheticReverb(16000)
    >>> wavs, lens = torch.randn(2, 4000), torch.tensor([1.0, 0.5])
    >>> out = reverb(wavs, lens)
    >>> out.shape, bool((out[1, 2000:] == 0).all())
    (torch.Size([2, 4000]), True)
    """

    def __init__(
        self,
        sample_rate: int,
        rt60_low: float = 0.2,
        rt60_high: float = 0.8,
        drr_low: float = 0.0,
        drr_high: float = 10.0,
        prob: float = 1.0,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        super().__init__()
        if not rt60_low > 0:
            raise ValueError(f"rt60_low={rt60_low}: reverberation times must be > 0 seconds, e.g. 0.2")
        _check_range("rt60_low", rt60_low, "rt60_high", rt60_high)
        _check_range("drr_low", drr_low, "drr_high", drr_high)
        self.sample_rate = int(sample_rate)
        self.rt60_low, self.rt60_high = float(rt60_low), float(rt60_high)
        self.drr_low, self.drr_high = float(drr_low), float(drr_high)
        self.prob = _check_probability("prob", prob)
        self.generator = generator

    def forward(self, wavs: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        """Return ``wavs`` with the selected items reverberated."""
        batch, total = wavs.shape
        device = wavs.device
        selected = torch.nonzero(_select_items(batch, self.prob, device, self.generator)).squeeze(1)
        if selected.numel() == 0:
            return wavs
        count = selected.numel()
        rt60 = _uniform(self.rt60_low, self.rt60_high, count, device, self.generator)
        drr = _uniform(self.drr_low, self.drr_high, count, device, self.generator)
        irs = synthetic_impulse_responses(rt60, self.sample_rate, drr, self.generator).to(wavs.dtype)

        mask = padding_mask(valid_sample_counts(lens[selected], total), total).to(wavs.dtype)
        dry = wavs[selected] * mask
        n_fft = 1 << int(math.ceil(math.log2(total + irs.shape[1] - 1)))
        wet = torch.fft.irfft(torch.fft.rfft(dry, n=n_fft) * torch.fft.rfft(irs, n=n_fft), n=n_fft)[:, :total]
        wet = wet * mask
        wet = wet * (_rms_over_valid(dry, mask) / _rms_over_valid(wet, mask).clamp(min=1e-12)).unsqueeze(1)
        out = wavs.clone()
        out[selected] = wet
        return out
