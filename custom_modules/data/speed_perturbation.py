"""Speed perturbation with one speaker class per (speaker, speed).

A changed speed changes the pitch, so an utterance at another speed is trained as another
speaker (as in WeSpeaker and 3D-Speaker); :func:`training_num_classes` gives the classifier
size. Part of the training augmentation (:mod:`custom_modules.data.augmentation`).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

from custom_modules.data.padded_batch import (
    _check_probability,
    _flat_labels,
    _select_items,
    padding_mask,
    valid_sample_counts,
)

__all__ = ["SpeedPerturbSpeakers", "training_num_classes"]


class SpeedPerturbSpeakers(nn.Module):
    """Per-utterance speed perturbation; a changed speed makes a new speaker class.

    Each utterance gets one of ``speeds`` (percent, uniform; with probability
    ``1 - prob`` it keeps 100) and is resampled with SpeechBrain's ``Resample``
    (one call per group of items with the same speed). As in SpeechBrain's
    ``SpeedPerturb``, speed ``s`` resamples from ``s`` to 100: the utterance becomes
    ``100 / s`` times longer and every frequency is multiplied by ``s / 100`` (speed 90
    turns a 1000 Hz tone into 900 Hz). The pitch changes, so, as in WeSpeaker and
    3D-Speaker, a speaker at another speed is treated as another speaker:
    ``label -> label + block(speed) * num_speakers``. Speed 100 is always block 0, so
    unperturbed labels are unchanged; the other speeds take blocks 1, 2, ... in the
    order they appear in ``speeds``. For ``speeds=(90, 100, 110)``: 100 -> block 0,
    90 -> block 1, 110 -> block 2. The classifier needs ``num_classes =
    num_speakers * len(speeds)`` outputs; ``label % num_speakers`` recovers the speaker.

    Arguments
    ---------
    sample_rate : int
        Sample rate of the waveforms (used for non-integer speeds).
    num_speakers : int
        Number of training speakers; labels must lie in ``[0, num_speakers)``.
    speeds : sequence of float
        Speeds in percent; must contain 100 exactly once.
    prob : float
        Probability that an utterance draws a speed (otherwise it keeps 100).
    generator : torch.Generator, optional
        Source of the random draws (default: torch's global generator).

    Example
    -------
    >>> perturb = SpeedPerturbSpeakers(16000, num_speakers=16, speeds=(90, 100, 110))
    >>> perturb.num_classes, perturb.class_block(100), perturb.class_block(90), perturb.class_block(110)
    (48, 0, 1, 2)
    >>> wavs, lens, labels = torch.randn(4, 1600), torch.tensor([1.0, 1.0, 0.5, 0.5]), torch.tensor([0, 3, 7, 15])
    >>> out_wavs, out_lens, out_labels = perturb(wavs, lens, labels)
    >>> out_wavs.shape[0], out_lens.shape, (out_labels % 16).tolist()
    (4, torch.Size([4]), [0, 3, 7, 15])
    >>> slowed, slowed_lens, slowed_labels = perturb.apply_speeds(wavs, lens, labels, torch.tensor([0, 0, 0, 0]))
    >>> slowed.shape, slowed_labels.tolist()  # all at speed 90: ceil(1600 * 100 / 90) samples, block 1
    (torch.Size([4, 1778]), [16, 19, 23, 31])
    """

    def __init__(
        self,
        sample_rate: int,
        num_speakers: int,
        speeds: Sequence[float] = (90, 100, 110),
        prob: float = 1.0,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        super().__init__()
        from speechbrain.augment.time_domain import Resample

        speeds = tuple(float(s) for s in speeds)
        if int(num_speakers) < 1:
            raise ValueError(f"num_speakers={num_speakers}: give the number of training speakers (>= 1)")
        if int(sample_rate) < 1:
            raise ValueError(f"sample_rate={sample_rate}: give the waveform sample rate in Hz, e.g. 16000")
        if any(s <= 0 for s in speeds):
            raise ValueError(f"speeds={list(speeds)}: speeds are percentages and must be > 0, e.g. (90, 100, 110)")
        if sum(math.isclose(s, 100.0) for s in speeds) != 1 or len(set(speeds)) != len(speeds):
            raise ValueError(
                f"speeds={list(speeds)}: list distinct speeds that contain 100 exactly once "
                f"(100 is the unperturbed class block 0), e.g. (90, 100, 110)"
            )
        self.sample_rate = int(sample_rate)
        self.num_speakers = int(num_speakers)
        self.speeds = speeds
        self.prob = _check_probability("prob", prob)
        self.generator = generator
        self.num_classes = self.num_speakers * len(speeds)

        self.unchanged_index = next(i for i, s in enumerate(speeds) if math.isclose(s, 100.0))
        blocks, next_block = [], 1
        for i in range(len(speeds)):
            if i == self.unchanged_index:
                blocks.append(0)
            else:
                blocks.append(next_block)
                next_block += 1
        self.class_blocks: Tuple[int, ...] = tuple(blocks)

        # (orig_freq, new_freq) as SpeechBrain's SpeedPerturb configures its resamplers
        self.resample_ratios = []
        for s in speeds:
            if math.isclose(s, round(s)):
                self.resample_ratios.append((int(round(s)), 100))
            else:
                self.resample_ratios.append((self.sample_rate, int(round(self.sample_rate * 100 / s))))
        # a plain list, as in SpeechBrain's SpeedPerturb: the kernels stay out of state_dict
        # (checkpoints do not depend on the speeds); Resample moves itself to the input device
        self._resamplers = [Resample(orig_freq=o, new_freq=n) for o, n in self.resample_ratios]

    def class_block(self, speed: float) -> int:
        """Class block of ``speed``: labels at that speed are offset by ``block * num_speakers``."""
        for s, block in zip(self.speeds, self.class_blocks):
            if math.isclose(s, float(speed)):
                return block
        raise ValueError(f"speed={speed} is not one of speeds={list(self.speeds)}")

    def perturbed_length(self, counts: torch.Tensor, speed_index: torch.Tensor) -> torch.Tensor:
        """Valid samples after resampling: ``ceil(count * new_freq / orig_freq)`` per item."""
        ratios = torch.tensor(self.resample_ratios, dtype=torch.long, device=counts.device)[speed_index]
        orig, new = ratios[:, 0], ratios[:, 1]
        return (counts * new + orig - 1) // orig

    def draw_speed_index(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """(B,) index into ``speeds`` for each item (the 100 index with prob ``1 - prob``)."""
        draw_device = self.generator.device if self.generator is not None else device
        index = torch.randint(0, len(self.speeds), (batch_size,), generator=self.generator, device=draw_device)
        index = index.to(device)
        keep = ~_select_items(batch_size, self.prob, device, self.generator)
        return torch.where(keep, torch.full_like(index, self.unchanged_index), index)

    def apply_speeds(
        self, wavs: torch.Tensor, lens: torch.Tensor, labels: torch.Tensor, speed_index: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Resample item ``i`` at ``speeds[speed_index[i]]``; return the re-padded batch.

        The output is padded to the longest resampled item; the new relative lengths
        count each item's resampled valid samples; labels get their class-block offset.
        """
        if wavs.dim() != 2:
            raise ValueError(f"wavs has shape {tuple(wavs.shape)}: expected (batch, time)")
        label_shape, labels = labels.shape, _flat_labels(labels, wavs.shape[0])
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_speakers):
            raise ValueError(
                f"labels span [{int(labels.min())}, {int(labels.max())}] but num_speakers={self.num_speakers}: "
                f"pass the unperturbed speaker indices and the true number of training speakers"
            )
        batch, total = wavs.shape
        counts = valid_sample_counts(lens, total)
        speed_index = speed_index.to(wavs.device).long()
        new_counts = self.perturbed_length(counts, speed_index)
        new_total = max(int(new_counts.max()) if batch else 0, 1)
        out = wavs.new_zeros(batch, new_total)
        for k in torch.unique(speed_index).tolist():
            items = torch.nonzero(speed_index == k).squeeze(1)
            longest = int(counts[items].max())
            if longest == 0:
                continue
            group = wavs[items, :longest]
            if k != self.unchanged_index:
                group = self._resamplers[k](group)
            group = group[:, :new_total]
            out[items, : group.shape[1]] = group
        out = out * padding_mask(new_counts, new_total).to(out.dtype)
        blocks = torch.tensor(self.class_blocks, dtype=labels.dtype, device=labels.device)
        new_labels = labels + blocks[speed_index.to(labels.device)] * self.num_speakers
        new_lens = (new_counts.float() / new_total).to(lens.dtype)
        return out, new_lens, new_labels.reshape(label_shape)

    def forward(
        self, wavs: torch.Tensor, lens: torch.Tensor, labels: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw a speed per utterance and apply it: returns (wavs, lens, labels)."""
        speed_index = self.draw_speed_index(wavs.shape[0], wavs.device)
        return self.apply_speeds(wavs, lens, labels, speed_index)


def training_num_classes(num_speakers: int, speed_perturb: Optional[SpeedPerturbSpeakers] = None) -> int:
    """Classifier outputs needed for training: ``num_speakers`` times the number of speeds.

    Checks that ``speed_perturb`` was built for the same number of speakers.

    Example
    -------
    >>> training_num_classes(16), training_num_classes(16, SpeedPerturbSpeakers(16000, 16))
    (16, 48)
    """
    if speed_perturb is None:
        return int(num_speakers)
    if speed_perturb.num_speakers != int(num_speakers):
        raise ValueError(
            f"speed_perturb was built for num_speakers={speed_perturb.num_speakers} but the data has "
            f"{num_speakers} speakers: build SpeedPerturbSpeakers with num_speakers={num_speakers}"
        )
    return speed_perturb.num_classes
