"""One random crop length per batch: every item cut to a common length at its own offset.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from custom_modules.data.padded_batch import _randint, _uniform, padding_mask, valid_sample_counts

__all__ = ["crop_to_shortest", "random_batch_crop"]


def crop_to_shortest(
    wavs: torch.Tensor, lens: torch.Tensor, generator: Optional[torch.Generator] = None, step: int = 0
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cut every item to the shortest valid length of the batch, each at its own random
    offset: the batch has no padding afterwards (``lens`` all 1). With ``step`` > 0 that
    length is rounded down to a multiple of ``step`` samples (kept as is when shorter than
    one step).

    Example
    -------
    >>> wavs = torch.arange(20.0).reshape(2, 10)
    >>> cropped, new_lens = crop_to_shortest(wavs, torch.tensor([1.0, 0.4]))
    >>> cropped.shape, new_lens.tolist(), cropped[1].tolist()
    (torch.Size([2, 4]), [1.0, 1.0], [10.0, 11.0, 12.0, 13.0])
    >>> crop_to_shortest(wavs, torch.tensor([1.0, 0.7]), step=3)[0].shape
    torch.Size([2, 6])
    """
    shortest = int(valid_sample_counts(lens, wavs.shape[1]).min())
    if step > 0 and shortest >= step:
        shortest = shortest // step * step
    return random_batch_crop(wavs, lens, shortest, shortest, generator)


def random_batch_crop(
    wavs: torch.Tensor,
    lens: torch.Tensor,
    min_samples: int,
    max_samples: int,
    generator: Optional[torch.Generator] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Crop the whole batch to one random length L, each item at its own random offset.

    L is uniform in [min_samples, max_samples] and at most T. An item with more than L
    valid samples is cut to a contiguous slice of L of them at a random offset (lens 1);
    an item with at most L keeps all its valid samples (padded, lens = count / L). With
    L >= T nothing changes. The batch stays rectangular, so compute falls with L.

    Example
    -------
    >>> wavs, lens = torch.randn(3, 1000), torch.tensor([1.0, 0.5, 0.2])
    >>> cropped, new_lens = random_batch_crop(wavs, lens, 400, 400)
    >>> cropped.shape, new_lens.tolist()
    (torch.Size([3, 400]), [1.0, 1.0, 0.5])
    """
    if int(min_samples) < 1:
        raise ValueError(f"min_samples={min_samples}: crops need at least 1 sample")
    if int(min_samples) > int(max_samples):
        raise ValueError(
            f"min_samples={min_samples} is above max_samples={max_samples}: set min_samples <= max_samples"
        )
    batch, total = wavs.shape[:2]
    device = wavs.device
    length = int(_randint(int(min_samples), int(max_samples), 1, torch.device("cpu"), generator)[0])
    if length >= total:
        return wavs, lens
    counts = valid_sample_counts(lens, total)
    spare = (counts - length).clamp(min=0)  # possible offsets - 1
    offsets = torch.floor(_uniform(0.0, 1.0, batch, device, generator) * (spare + 1).float()).long()
    offsets = torch.minimum(offsets, spare)
    index = offsets.unsqueeze(1) + torch.arange(length, device=device).unsqueeze(0)
    cropped = torch.gather(
        wavs, 1, index.view(batch, length, *([1] * (wavs.dim() - 2))).expand(batch, length, *wavs.shape[2:])
    )
    new_counts = counts.clamp(max=length)
    mask = padding_mask(new_counts, length).to(wavs.dtype).view(batch, length, *([1] * (wavs.dim() - 2)))
    return cropped * mask, (new_counts.float() / length).to(lens.dtype)
