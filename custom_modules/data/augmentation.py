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

This module holds the composition (:class:`TrainingAugmentation`) and re-exports the pieces:
``custom_modules.data.padded_batch`` (valid-sample counts and masks),
``custom_modules.data.speed_perturbation`` (:class:`SpeedPerturbSpeakers`,
:func:`training_num_classes`), ``custom_modules.data.additive_noise`` (:func:`coloured_noise`,
:class:`BabbleNoise`), ``custom_modules.data.reverberation`` (:class:`SyntheticReverb`),
``custom_modules.data.feature_masking`` (:class:`FeatureMasking`) and
``custom_modules.data.batch_crops`` (:func:`crop_to_shortest`, :func:`random_batch_crop`).
Committed hparams name them as ``custom_modules.data.augmentation.<name>`` (and the old
``custom_modules.augmentation.<name>``).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from custom_modules.data.additive_noise import BabbleNoise, coloured_noise
from custom_modules.data.batch_crops import crop_to_shortest, random_batch_crop
from custom_modules.data.feature_masking import FeatureMasking
from custom_modules.data.padded_batch import (
    _check_probability,
    _check_range,
    _select_items,
    padding_mask,
    valid_sample_counts,
)
from custom_modules.data.reverberation import SyntheticReverb, synthetic_impulse_responses
from custom_modules.data.speed_perturbation import SpeedPerturbSpeakers, training_num_classes

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
            self.add_noise = self._noise_step(noise_csv, snr_low, snr_high, noise_replacements, num_workers)

        self.babble: Optional[BabbleNoise] = None
        if self.babble_prob > 0:
            self.babble = BabbleNoise(babble_speaker_count, babble_snr_low, babble_snr_high, self.babble_prob)

        self.reverb: Optional[nn.Module] = None
        if self.reverb_prob > 0:
            self.reverb = self._reverb_step(
                reverb_csv, (rt60_low, rt60_high), (drr_low, drr_high), reverb_replacements, num_workers
            )

    def _noise_step(
        self,
        noise_csv: Optional[str],
        snr_low: float,
        snr_high: float,
        noise_replacements: Optional[Dict[str, str]],
        num_workers: int,
    ) -> nn.Module:
        """SpeechBrain's ``AddNoise`` reading ``noise_csv``, or, without one, adding
        :func:`coloured_noise` zeroed on the padding (kept as ``self._synthetic_noise``)."""
        from speechbrain.augment.time_domain import AddNoise

        _check_range("snr_low", snr_low, "snr_high", snr_high)
        common = dict(
            snr_low=snr_low,
            snr_high=snr_high,
            noise_sample_rate=self.sample_rate,
            clean_sample_rate=self.sample_rate,
        )
        if noise_csv:
            self._check_csv("noise_csv", noise_csv)
            return AddNoise(
                csv_file=noise_csv,
                pad_noise=True,
                num_workers=num_workers,
                replacements=dict(noise_replacements or {}),
                **common,
            )
        self._synthetic_noise = _NoiseOnValidSamples(coloured_noise)
        return AddNoise(noise_funct=self._synthetic_noise, **common)

    def _reverb_step(
        self,
        reverb_csv: Optional[str],
        rt60: Tuple[float, float],
        drr: Tuple[float, float],
        reverb_replacements: Optional[Dict[str, str]],
        num_workers: int,
    ) -> nn.Module:
        """SpeechBrain's ``AddReverb`` reading ``reverb_csv``, or, without one, :class:`SyntheticReverb`
        with RT60 in ``rt60`` seconds and direct-to-reverberant ratio in ``drr`` dB."""
        from speechbrain.augment.time_domain import AddReverb

        if reverb_csv:
            self._check_csv("reverb_csv", reverb_csv)
            return AddReverb(
                reverb_csv,
                num_workers=num_workers,
                reverb_sample_rate=self.sample_rate,
                clean_sample_rate=self.sample_rate,
                replacements=dict(reverb_replacements or {}),
            )
        return SyntheticReverb(self.sample_rate, rt60[0], rt60[1], drr[0], drr[1], prob=self.reverb_prob)

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
