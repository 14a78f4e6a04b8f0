"""On-the-fly training augmentation for speaker embeddings, on padded batches.

Every piece works on a padded batch as SpeechBrain produces it:

- ``wavs``   (B, T) float waveforms, zero after each item's valid samples;
- ``lens``   (B,) relative lengths in [0, 1]: item ``i`` has ``round(lens[i] * T)`` valid samples;
- ``labels`` (B,) long speaker indices in ``[0, num_speakers)``.

SpeechBrain's own modules are used wherever they exist: ``Resample`` (speed
perturbation), ``AddNoise`` (additive noise from a CSV, or from :func:`coloured_noise`),
``pink_noise_like`` (the 1/f spectrum of :func:`coloured_noise`), ``AddReverb``
(impulse responses from a CSV) and ``SpectrogramDrop`` (time and frequency masking).
Written here is what SpeechBrain lacks: a per-utterance speed with the speaker-class
expansion it implies, babble from other speakers of the same batch, synthetic impulse
responses, per-item probabilities, the composition, and one random crop length per batch.

Every random draw comes from torch's random number generator (seeded by
``speechbrain.utils.seed.seed_everything``); the pieces written here also accept a
``torch.Generator``. SpeechBrain's ``AddNoise``, ``AddReverb``, ``pink_noise_like`` and
``SpectrogramDrop`` draw from the global torch generator.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
import os
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = [
    "valid_sample_counts",
    "padding_mask",
    "crop_to_shortest",
    "SpeedPerturbSpeakers",
    "training_num_classes",
    "coloured_noise",
    "BabbleNoise",
    "synthetic_impulse_responses",
    "SyntheticReverb",
    "TrainingAugmentation",
    "FeatureMasking",
    "random_batch_crop",
]


# --------------------------------------------------------------------------------------
# small shared helpers
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# 1. speed perturbation with one speaker class per (speaker, speed)
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# 2. coloured noise for SpeechBrain's AddNoise
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# 3. babble from other speakers of the batch
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# 4. synthetic reverberation
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# 5. the composition
# --------------------------------------------------------------------------------------
class _NoiseOnValidSamples:
    """``noise_funct`` for ``AddNoise`` that is zero on the padding.

    ``AddNoise`` divides the noise energy summed over the *whole* tensor by the *valid*
    length, so noise spread over the padding would be scaled too quietly (by the padded
    fraction: 1.25 dB for an item with 75% valid samples). Zeroing the padding first
    makes the SNR exact over the valid samples. ``mask`` is set for each call.
    """

    def __init__(self, noise_funct) -> None:
        self.noise_funct = noise_funct
        self.mask: Optional[torch.Tensor] = None

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        noise = self.noise_funct(like)
        return noise if self.mask is None else noise * self.mask.to(noise.dtype)


class TrainingAugmentation(nn.Module):
    """Waveform augmentation for training, in a fixed order, each step optional.

    speed perturbation -> (equal lengths) -> additive noise -> babble -> reverberation.

    - speed: ``speed_perturb`` (a :class:`SpeedPerturbSpeakers`, or None); it changes the
      batch length, ``lens`` and ``labels`` (see :class:`SpeedPerturbSpeakers`).
    - equal lengths: with ``equal_lengths=True``, every item is then cut to the batch's
      shortest valid length, each at its own random offset (:func:`crop_to_shortest`).
      Slowed items are longer than the others and would otherwise pad the batch: the
      encoder then computes on padding and masks every layer. Cut, the batch has no
      padding (``lens`` all 1), which the Res2Net encoder runs without any mask. With
      ``length_step_seconds`` > 0 the common length is rounded down to a multiple of it
      (at least one step), so batches come in a few shapes: on a CPU the allocator then
      reuses the memory of earlier steps instead of fragmenting it (a 0.1 s grid took a
      40-step Res2Net50 loop from 3.67 to 3.22 GB peak).
    - noise: SpeechBrain's ``AddNoise`` reading ``noise_csv`` (an ``ID,duration,wav,
      wav_format,wav_opts`` CSV), or, without a CSV, ``AddNoise`` with
      :func:`coloured_noise`; SNR uniform in [snr_low, snr_high] dB as ``AddNoise``
      defines it (the clean part scaled by ``1 - a``, the noise to ``a`` times its RMS).
    - babble: :class:`BabbleNoise` from other speakers of the batch (speakers are told
      apart by the labels *before* the speed offset, so one speaker at another speed is
      never used as babble for itself).
    - reverb: SpeechBrain's ``AddReverb`` reading ``reverb_csv`` (one impulse response per
      call, shared by the items selected in that batch), or :class:`SyntheticReverb`.

    A step runs only when its probability is not None and > 0; each item is selected
    independently with that probability (the SpeechBrain modules then run on the selected
    subset). After every step the padding is zeroed again. ``noise_replacements`` and
    ``reverb_replacements`` fill ``$name`` variables in the CSVs' wav column, keyed by the
    name without ``$`` (e.g. ``{"data_root": "/data"}``), as SpeechBrain's ``replacements``.
    Call it in the training stage only: it does not look at ``self.training``.

    Example
    -------
    >>> augment = TrainingAugmentation(16000, speed_perturb=SpeedPerturbSpeakers(16000, 4),
    ...     noise_prob=0.5, babble_prob=0.5, reverb_prob=0.5, babble_speaker_count=(1, 2))
    >>> augment.num_classes(4), augment.active_steps
    (12, ['speed', 'noise', 'babble', 'reverb'])
    >>> wavs, lens, labels = augment(torch.randn(4, 3200), torch.tensor([1.0, 0.8, 0.6, 1.0]), torch.tensor([0, 1, 2, 3]))
    >>> wavs.shape[0], lens.shape, bool((labels % 4 == torch.tensor([0, 1, 2, 3])).all())
    (4, torch.Size([4]), True)
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        speed_perturb: Optional[SpeedPerturbSpeakers] = None,
        noise_prob: Optional[float] = None,
        noise_csv: Optional[str] = None,
        snr_low: float = 0.0,
        snr_high: float = 15.0,
        noise_replacements: Optional[Dict[str, str]] = None,
        babble_prob: Optional[float] = None,
        babble_snr_low: float = 5.0,
        babble_snr_high: float = 20.0,
        babble_speaker_count: Sequence[int] = (3, 6),
        reverb_prob: Optional[float] = None,
        reverb_csv: Optional[str] = None,
        rt60_low: float = 0.2,
        rt60_high: float = 0.8,
        drr_low: float = 0.0,
        drr_high: float = 10.0,
        reverb_replacements: Optional[Dict[str, str]] = None,
        num_workers: int = 0,
        equal_lengths: bool = False,
        length_step_seconds: float = 0.0,
    ) -> None:
        super().__init__()
        from speechbrain.augment.time_domain import AddNoise, AddReverb

        self.sample_rate = int(sample_rate)
        self.speed_perturb = speed_perturb
        self.equal_lengths = bool(equal_lengths)
        if not length_step_seconds >= 0:
            raise ValueError(f"length_step_seconds={length_step_seconds}: give 0 (off) or a positive step such as 0.1")
        if length_step_seconds and not self.equal_lengths:
            raise ValueError(
                f"length_step_seconds={length_step_seconds} rounds the common length of equal_lengths: "
                "set equal_lengths: True, or length_step_seconds: 0"
            )
        self.length_step = int(round(length_step_seconds * self.sample_rate))
        self.noise_prob = self._step_probability("noise_prob", noise_prob)
        self.babble_prob = self._step_probability("babble_prob", babble_prob)
        self.reverb_prob = self._step_probability("reverb_prob", reverb_prob)

        self.add_noise: Optional[nn.Module] = None
        self._synthetic_noise: Optional[_NoiseOnValidSamples] = None
        if self.noise_prob > 0:
            _check_range("snr_low", snr_low, "snr_high", snr_high)
            common = dict(
                snr_low=snr_low,
                snr_high=snr_high,
                noise_sample_rate=self.sample_rate,
                clean_sample_rate=self.sample_rate,
            )
            if noise_csv:
                self._check_csv("noise_csv", noise_csv)
                self.add_noise = AddNoise(
                    csv_file=noise_csv,
                    pad_noise=True,
                    num_workers=num_workers,
                    replacements=dict(noise_replacements or {}),
                    **common,
                )
            else:
                self._synthetic_noise = _NoiseOnValidSamples(coloured_noise)
                self.add_noise = AddNoise(noise_funct=self._synthetic_noise, **common)

        self.babble: Optional[BabbleNoise] = None
        if self.babble_prob > 0:
            self.babble = BabbleNoise(babble_speaker_count, babble_snr_low, babble_snr_high, self.babble_prob)

        self.reverb: Optional[nn.Module] = None
        if self.reverb_prob > 0:
            if reverb_csv:
                self._check_csv("reverb_csv", reverb_csv)
                self.reverb = AddReverb(
                    reverb_csv,
                    num_workers=num_workers,
                    reverb_sample_rate=self.sample_rate,
                    clean_sample_rate=self.sample_rate,
                    replacements=dict(reverb_replacements or {}),
                )
            else:
                self.reverb = SyntheticReverb(
                    self.sample_rate, rt60_low, rt60_high, drr_low, drr_high, prob=self.reverb_prob
                )

    @staticmethod
    def _step_probability(name: str, value: Optional[float]) -> float:
        return 0.0 if value is None else _check_probability(name, value)

    @staticmethod
    def _check_csv(name: str, path: str) -> None:
        if not os.path.isfile(path):
            raise ValueError(f"{name}={path}: file not found; give an existing CSV or null to use the synthetic step")

    @property
    def active_steps(self) -> list:
        """Names of the steps that run, in order."""
        steps = [
            ("speed", self.speed_perturb),
            ("noise", self.add_noise),
            ("babble", self.babble),
            ("reverb", self.reverb),
        ]
        return [name for name, step in steps if step is not None]

    def num_classes(self, num_speakers: int) -> int:
        """Classifier outputs for ``num_speakers`` training speakers (see :func:`training_num_classes`)."""
        return training_num_classes(num_speakers, self.speed_perturb)

    @staticmethod
    def _on_selected(
        step, wavs: torch.Tensor, lens: torch.Tensor, selected: torch.Tensor, with_lengths: bool
    ) -> torch.Tensor:
        """Run a whole-batch SpeechBrain step on the selected items only."""
        items = torch.nonzero(selected).squeeze(1)
        if items.numel() == 0:
            return wavs
        out = wavs.clone()
        out[items] = step(wavs[items], lens[items]) if with_lengths else step(wavs[items])
        return out

    def forward(
        self, wavs: torch.Tensor, lens: torch.Tensor, labels: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Augment a padded batch: returns (wavs, lens, labels); labels change only with speed."""
        speakers = labels
        if self.speed_perturb is not None:
            wavs, lens, labels = self.speed_perturb(wavs, lens, labels)
        if self.equal_lengths:
            wavs, lens = crop_to_shortest(wavs, lens, step=self.length_step)
        mask = padding_mask(valid_sample_counts(lens, wavs.shape[1]), wavs.shape[1]).to(wavs.dtype)
        if self.add_noise is not None:
            selected = _select_items(wavs.shape[0], self.noise_prob, wavs.device, None)
            if self._synthetic_noise is not None:
                self._synthetic_noise.mask = mask[selected]
            wavs = self._on_selected(self.add_noise, wavs, lens, selected, with_lengths=True) * mask
            if self._synthetic_noise is not None:
                self._synthetic_noise.mask = None
        if self.babble is not None:
            wavs = self.babble(wavs, lens, speakers) * mask
        if self.reverb is not None:
            if isinstance(self.reverb, SyntheticReverb):
                wavs = self.reverb(wavs, lens)
            else:
                selected = _select_items(wavs.shape[0], self.reverb_prob, wavs.device, None)
                wavs = self._on_selected(self.reverb, wavs, lens, selected, with_lengths=False)
            wavs = wavs * mask
        return wavs, lens, labels


# --------------------------------------------------------------------------------------
# 6. masking on features
# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# 7. one random crop length per batch
# --------------------------------------------------------------------------------------
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
