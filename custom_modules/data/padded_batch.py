"""Small helpers on padded batches shared by the augmentation modules.

A padded batch is ``wavs`` (B, T), zero after each item's valid samples, with ``lens`` (B,)
relative lengths: item ``i`` has ``round(lens[i] * T)`` valid samples. Here: valid-sample
counts and masks, argument checks, and random draws from torch's generator (or a given
``torch.Generator``).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Optional

import torch

__all__ = ["valid_sample_counts", "padding_mask"]


def valid_sample_counts(lens: torch.Tensor, total: int) -> torch.Tensor:
    """Number of valid samples of each item: ``round(lens * total)``, as a long tensor.

    Example
    -------
    >>> valid_sample_counts(torch.tensor([1.0, 0.5, 0.0]), 10).tolist()
    [10, 5, 0]
    """
    return torch.round(lens.float() * total).long().clamp(0, total)


def padding_mask(counts: torch.Tensor, total: int) -> torch.Tensor:
    """(B, total) float mask: 1 on each item's first ``counts[i]`` samples, 0 after.

    Example
    -------
    >>> padding_mask(torch.tensor([3, 1]), 4).tolist()
    [[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    """
    positions = torch.arange(total, device=counts.device)
    return (positions.unsqueeze(0) < counts.unsqueeze(1)).float()


def _check_probability(name: str, value: float) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name}={value} is not a probability: use a value in [0, 1]")
    return float(value)


def _check_range(low_name: str, low: float, high_name: str, high: float) -> None:
    if low > high:
        raise ValueError(
            f"{low_name}={low} is above {high_name}={high}: set {low_name} <= {high_name} "
            f"(equal values give a fixed value)"
        )


def _uniform(
    low: float, high: float, size: int, device: torch.device, generator: Optional[torch.Generator]
) -> torch.Tensor:
    """``size`` draws uniform in [low, high] from ``generator`` (or the global one)."""
    draw_device = generator.device if generator is not None else device
    u = torch.rand(size, generator=generator, device=draw_device).to(device)
    return low + (high - low) * u


def _randint(
    low: int, high_inclusive: int, size: int, device: torch.device, generator: Optional[torch.Generator]
) -> torch.Tensor:
    """``size`` integers uniform in [low, high_inclusive]."""
    draw_device = generator.device if generator is not None else device
    return torch.randint(low, high_inclusive + 1, (size,), generator=generator, device=draw_device).to(device)


def _select_items(
    batch_size: int, prob: float, device: torch.device, generator: Optional[torch.Generator]
) -> torch.Tensor:
    """Boolean (B,) mask: each item independently selected with probability ``prob``."""
    if prob >= 1.0:
        return torch.ones(batch_size, dtype=torch.bool, device=device)
    if prob <= 0.0:
        return torch.zeros(batch_size, dtype=torch.bool, device=device)
    return _uniform(0.0, 1.0, batch_size, device, generator) < prob


def _flat_labels(labels: torch.Tensor, batch: int) -> torch.Tensor:
    """Labels as (B,): accepts (B,) or SpeechBrain's padded (B, 1)."""
    flat = labels.reshape(-1)
    if flat.numel() != batch:
        raise ValueError(
            f"labels has shape {tuple(labels.shape)} for a batch of {batch}: pass one speaker index per "
            f"utterance, shape (B,) or (B, 1) (e.g. batch.spk_id_encoded.data)"
        )
    return flat


def _rms_over_valid(wavs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) root-mean-square over the samples where ``mask`` is 1 (0 for empty items)."""
    energy = (wavs.pow(2) * mask).sum(dim=1)
    return torch.sqrt(energy / mask.sum(dim=1).clamp(min=1.0))
