"""Training augmentation against independent numpy/scipy computations."""

import functools

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from custom_modules.data.augmentation import (
    BabbleNoise,
    FeatureMasking,
    SpeedPerturbSpeakers,
    SyntheticReverb,
    TrainingAugmentation,
    coloured_noise,
    random_batch_crop,
    synthetic_impulse_responses,
    training_num_classes,
)

SR = 16000


def peak_frequency(x: np.ndarray, sample_rate: int = SR) -> float:
    """Frequency of the largest spectral peak (Hann window, 8x zero padding)."""
    n = len(x)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(n), n=8 * n))
    return float(np.argmax(spectrum) * sample_rate / (8 * n))


def padded_batch(items, total):
    """Zero-padded (B, total) tensor and relative lengths from a list of 1-D arrays."""
    wavs = torch.zeros(len(items), total)
    for i, x in enumerate(items):
        wavs[i, : len(x)] = torch.as_tensor(x, dtype=torch.float32)
    lens = torch.tensor([len(x) / total for x in items])
    return wavs, lens


def loglog_slope(noise: np.ndarray, low_bin: int = 4, high_fraction: float = 0.5) -> float:
    """Least-squares slope of log power vs log frequency of the averaged periodogram."""
    power = (
        np.mean(np.abs(np.fft.rfft(noise, axis=-1)) ** 2, axis=0)
        if noise.ndim == 2
        else np.abs(np.fft.rfft(noise)) ** 2
    )
    bins = np.unique(np.geomspace(low_bin, int(high_fraction * (len(power) - 1)), 200).astype(int))
    # average the periodogram over log-spaced bands so every octave weighs the same
    edges = np.append(bins, bins[-1] + 1)
    band_power = [power[a:b].mean() for a, b in zip(edges[:-1], np.maximum(edges[1:], edges[:-1] + 1))]
    return float(np.polyfit(np.log10(bins), np.log10(band_power), 1)[0])


# ----------------------------------------------------------------------------------------
# 1. speed perturbation
# ----------------------------------------------------------------------------------------
def test_speed_changes_frequency_length_and_labels():
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 1000.0 * t)
    items = [tone, tone, tone, tone[:12000]]
    wavs, lens = padded_batch(items, SR)
    labels = torch.tensor([3, 5, 0, 15])
    perturb = SpeedPerturbSpeakers(SR, num_speakers=16, speeds=(90, 100, 110))
    out, out_lens, out_labels = perturb.apply_speeds(wavs, lens, labels, torch.tensor([0, 1, 2, 0]))

    speeds = [90, 100, 110, 90]
    expected_counts = [int(np.ceil(len(x) * 100 / s)) for x, s in zip(items, speeds)]
    assert out.shape == (4, max(expected_counts))
    counts = torch.round(out_lens * out.shape[1]).long().tolist()
    assert counts == expected_counts
    for i, (s, n) in enumerate(zip(speeds, counts)):
        # speed s multiplies every frequency by s / 100 (SpeechBrain's convention)
        assert abs(peak_frequency(out[i, :n].numpy()) - 1000.0 * s / 100) < 2.0
        assert torch.all(out[i, n:] == 0)
    # 100 -> block 0 (labels unchanged), 90 -> block 1, 110 -> block 2
    assert out_labels.tolist() == [3 + 16, 5, 0 + 32, 15 + 16]
    assert torch.equal(out[1, :SR], wavs[1])


def test_speed_resampling_matches_scipy_polyphase():
    rng = np.random.default_rng(0)
    t = np.arange(8000) / SR
    x = sum(rng.uniform(0.2, 1) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (170, 830, 2100, 3900))
    wavs, lens = padded_batch([x, x], 8000)
    perturb = SpeedPerturbSpeakers(SR, num_speakers=2, speeds=(90, 100, 110))
    out, out_lens, _ = perturb.apply_speeds(wavs, lens, torch.tensor([0, 1]), torch.tensor([0, 2]))
    for i, (up, down) in enumerate([(10, 9), (10, 11)]):
        ref = resample_poly(x, up, down)
        n = int(round(float(out_lens[i]) * out.shape[1]))
        assert abs(n - len(ref)) <= 1
        inner = slice(200, min(n, len(ref)) - 200)  # away from the edge transients
        err = np.abs(out[i, :n].numpy()[inner] - ref[inner]).max() / np.abs(ref).max()
        assert err < 5e-3


def test_speed_draws_uniform_blocks_and_prob():
    torch.manual_seed(0)
    batch = 3000
    wavs, lens, labels = torch.randn(batch, 20), torch.ones(batch), torch.randint(0, 4, (batch,))
    perturb = SpeedPerturbSpeakers(SR, num_speakers=4, speeds=(95, 100, 105))
    _, _, out_labels = perturb(wavs, lens, labels)
    assert torch.equal(out_labels % 4, labels)
    share = torch.bincount(out_labels // 4, minlength=3).float() / batch
    assert torch.allclose(share, torch.full((3,), 1 / 3), atol=0.04)

    half = SpeedPerturbSpeakers(SR, num_speakers=4, speeds=(95, 100, 105), prob=0.5)
    _, _, out_labels = half(wavs, lens, labels)
    unchanged = float((out_labels == labels).float().mean())
    assert abs(unchanged - (0.5 + 0.5 / 3)) < 0.04

    never = SpeedPerturbSpeakers(SR, num_speakers=4, prob=0.0)
    same = never(wavs, lens, labels)
    assert torch.equal(same[0], wavs) and torch.equal(same[1], lens) and torch.equal(same[2], labels)


def test_speed_keeps_speechbrain_column_labels_aligned():
    labels = torch.tensor([[0], [1], [2]])  # batch.spk_id_encoded.data is (B, 1)
    perturb = SpeedPerturbSpeakers(SR, num_speakers=3)
    _, _, out = perturb.apply_speeds(torch.randn(3, 100), torch.ones(3), labels, torch.tensor([0, 1, 2]))
    assert out.tolist() == [[0 + 3], [1], [2 + 6]]


def test_speed_generator_makes_runs_reproducible():
    wavs, lens, labels = torch.randn(8, 400), torch.ones(8), torch.arange(8)
    runs = [
        SpeedPerturbSpeakers(SR, 8, generator=torch.Generator().manual_seed(7))(wavs, lens, labels) for _ in range(2)
    ]
    assert all(torch.equal(a, b) for a, b in zip(*runs))


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        (dict(speeds=(90, 110)), "contain 100"),
        (dict(speeds=(90, 100, 100)), "contain 100"),
        (dict(speeds=(0, 100)), "> 0"),
        (dict(prob=1.5), "prob=1.5"),
        (dict(num_speakers=0), "num_speakers=0"),
    ],
)
def test_speed_bad_arguments(kwargs, fragment):
    args = {"sample_rate": SR, "num_speakers": 4, **kwargs}
    with pytest.raises(ValueError, match=fragment):
        SpeedPerturbSpeakers(**args)


def test_speed_rejects_labels_outside_speakers_and_class_count_mismatch():
    perturb = SpeedPerturbSpeakers(SR, num_speakers=4)
    with pytest.raises(ValueError, match="num_speakers=4"):
        perturb(torch.randn(2, 100), torch.ones(2), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"shape \(3,\) for a batch of 2"):
        perturb(torch.randn(2, 100), torch.ones(2), torch.tensor([0, 1, 2]))
    assert training_num_classes(4, perturb) == 12
    with pytest.raises(ValueError, match="num_speakers=5"):
        training_num_classes(5, perturb)


# ----------------------------------------------------------------------------------------
# 2. coloured noise
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_coloured_noise_has_the_requested_spectral_slope(beta):
    torch.manual_seed(1)
    noise = coloured_noise(torch.zeros(16, 8192), beta_low=beta, beta_high=beta).numpy()
    assert abs(loglog_slope(noise) + beta) < 0.1
    np.testing.assert_allclose(noise.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(noise.std(axis=1, ddof=1), 1.0, atol=1e-4)


def test_coloured_noise_draws_beta_per_item():
    torch.manual_seed(2)
    noise = coloured_noise(torch.zeros(24, 8192)).numpy()
    slopes = np.array([loglog_slope(item) for item in noise])
    assert slopes.min() > -2.3 and slopes.max() < 0.3
    assert slopes.max() - slopes.min() > 1.0  # items differ: beta is drawn per item
    with pytest.raises(ValueError, match="beta_low=2"):
        coloured_noise(torch.zeros(1, 100), beta_low=2, beta_high=1)


# ----------------------------------------------------------------------------------------
# 3. babble
# ----------------------------------------------------------------------------------------
def test_babble_one_source_snr_and_content():
    rng = np.random.default_rng(3)
    x0, x1 = rng.standard_normal(1600), 0.3 * rng.standard_normal(1000)
    wavs, lens = padded_batch([x0, x1], 1600)
    babble = BabbleNoise(speaker_count=(1, 1), snr_low=7.3, snr_high=7.3)
    out = babble(wavs, lens, torch.tensor([0, 1]))
    for target, source, n in ((x0, x1, 1600), (x1, x0, 1000)):
        i = 0 if n == 1600 else 1
        noise = (out[i] - wavs[i]).numpy().astype(np.float64)
        snr = 10 * np.log10(np.mean(target**2) / np.mean(noise[:n] ** 2))
        assert abs(snr - 7.3) < 0.1
        assert np.all(noise[n:] == 0)
        # the noise is the other utterance, repeated circularly from some offset, scaled
        best = max(abs(np.corrcoef(noise[:n], np.resize(np.roll(source, -o), n))[0, 1]) for o in range(len(source)))
        assert best > 0.9999


def test_babble_never_mixes_the_same_speaker_and_uses_distinct_speakers():
    total = 2048
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0, 3, 4, 5])
    bins = [40 + 37 * i for i in range(len(labels))]  # one exact FFT bin per item
    t = np.arange(total)
    wavs = torch.tensor(np.stack([np.sin(2 * np.pi * b * t / total) for b in bins]), dtype=torch.float32)
    torch.manual_seed(4)
    out = BabbleNoise(speaker_count=(3, 4), snr_low=0, snr_high=0)(wavs, torch.ones(len(labels)), labels)
    for i in range(len(labels)):
        power = np.abs(np.fft.rfft((out[i] - wavs[i]).numpy().astype(np.float64))) ** 2
        present = [j for j, b in enumerate(bins) if power[b] > 1e-4 * power.sum()]
        assert all(labels[j] != labels[i] for j in present)
        speakers = [int(labels[j]) for j in present]
        assert len(speakers) == len(set(speakers))  # distinct speakers
        assert 3 <= len(speakers) <= 4
        assert abs(sum(power[bins[j]] for j in present) / power.sum() - 1) < 1e-3  # nothing else added


def test_babble_leaves_items_without_other_speakers_or_unselected():
    wavs = torch.randn(3, 500)
    out = BabbleNoise(speaker_count=(1, 2))(wavs, torch.ones(3), torch.tensor([1, 1, 1]))
    assert torch.equal(out, wavs)
    out = BabbleNoise(speaker_count=(1, 2))(wavs, torch.ones(3), torch.tensor([[1], [1], [1]]))  # (B, 1) labels
    assert torch.equal(out, wavs)
    out = BabbleNoise(prob=0.0)(wavs, torch.ones(3), torch.tensor([0, 1, 2]))
    assert torch.equal(out, wavs)
    with pytest.raises(ValueError, match="snr_low=20"):
        BabbleNoise(snr_low=20, snr_high=5)


# ----------------------------------------------------------------------------------------
# 4. synthetic reverberation
# ----------------------------------------------------------------------------------------
def schroeder_rt60(ir: np.ndarray, sample_rate: int = SR) -> float:
    """RT60 from the Schroeder energy decay curve, fitted between -5 and -25 dB (T20 x 3)."""
    edc = np.cumsum(ir[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    fit = (edc_db <= -5) & (edc_db >= -25)
    slope = np.polyfit(np.nonzero(fit)[0] / sample_rate, edc_db[fit], 1)[0]
    return -60.0 / slope


def test_impulse_response_decay_matches_rt60_and_drr():
    rt60 = torch.tensor([0.2, 0.45, 0.8])
    drr = torch.tensor([0.0, 5.0, -3.0])
    irs = synthetic_impulse_responses(rt60, SR, drr, torch.Generator().manual_seed(5)).numpy().astype(np.float64)
    assert irs.shape == (3, int(np.ceil(0.8 * SR)) + 1)
    for ir, r, d in zip(irs, rt60.tolist(), drr.tolist()):
        assert abs(schroeder_rt60(ir[1:]) / r - 1) < 0.05
        assert abs(10 * np.log10(ir[0] ** 2 / np.sum(ir[1:] ** 2)) - d) < 1e-3
        assert abs(np.sum(ir**2) - 1) < 1e-5 and np.argmax(np.abs(ir)) == 0


def test_synthetic_reverb_is_a_causal_convolution_rescaled_to_the_input_rms():
    total, n = 6000, 4500
    rng = np.random.default_rng(6)
    x = rng.standard_normal(n)
    signal, lens = padded_batch([x], total)
    impulse, _ = padded_batch([np.eye(1, n)[0]], total)  # a click at t = 0 reveals the response
    make = functools.partial(SyntheticReverb, SR, rt60_low=0.1, rt60_high=0.3)
    response = make(generator=torch.Generator().manual_seed(8))(impulse, lens)[0, :n].numpy()
    out = make(generator=torch.Generator().manual_seed(8))(signal, lens)[0].numpy()
    ref = np.convolve(x, response)[:n]
    ref *= np.sqrt(np.mean(x**2) / np.mean(ref**2))
    np.testing.assert_allclose(out[:n], ref, atol=1e-4 * np.abs(ref).max())
    assert np.all(out[n:] == 0)
    assert abs(np.sqrt(np.mean(out[:n] ** 2)) / np.sqrt(np.mean(x**2)) - 1) < 1e-4
    assert np.argmax(np.abs(response)) == 0  # no delay: the direct path stays at t = 0


def test_synthetic_reverb_prob_zero_and_bad_arguments():
    wavs = torch.randn(2, 1000)
    assert torch.equal(SyntheticReverb(SR, prob=0.0)(wavs, torch.ones(2)), wavs)
    with pytest.raises(ValueError, match="rt60_low=0.9"):
        SyntheticReverb(SR, rt60_low=0.9, rt60_high=0.5)
    with pytest.raises(ValueError, match="rt60_low=0"):
        SyntheticReverb(SR, rt60_low=0.0)


# ----------------------------------------------------------------------------------------
# 5. the composition
# ----------------------------------------------------------------------------------------
def test_composition_noise_step_hits_the_snr_and_keeps_padding():
    torch.manual_seed(9)
    rng = np.random.default_rng(9)
    items = [rng.standard_normal(8000), rng.standard_normal(6000)]
    wavs, lens = padded_batch(items, 8000)
    labels = torch.tensor([0, 1])
    augment = TrainingAugmentation(SR, noise_prob=1.0, snr_low=10, snr_high=10)
    assert augment.active_steps == ["noise"] and augment.num_classes(2) == 2
    out, out_lens, out_labels = augment(wavs, lens, labels)
    assert torch.equal(out_lens, lens) and torch.equal(out_labels, labels)
    for i, x in enumerate(items):
        y = out[i, : len(x)].numpy().astype(np.float64)
        clean_gain = y @ x / (x @ x)  # AddNoise scales the clean part, then adds the noise
        noise = y - clean_gain * x
        snr = 20 * np.log10(clean_gain * np.std(x) / np.std(noise))
        assert abs(snr - 10) < 0.3
        assert torch.all(out[i, len(x) :] == 0)


def test_composition_steps_are_per_item_and_reproducible():
    wavs, lens, labels = torch.randn(200, 400), torch.ones(200), torch.arange(200) % 8

    def run(seed):
        torch.manual_seed(seed)
        augment = TrainingAugmentation(
            SR,
            SpeedPerturbSpeakers(SR, 8),
            noise_prob=0.5,
            babble_prob=0.5,
            reverb_prob=0.5,
            babble_speaker_count=(1, 2),
        )
        return augment(wavs, lens, labels)

    first, again = run(10), run(10)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert torch.equal(first[2] % 8, labels)

    torch.manual_seed(11)
    noise_only = TrainingAugmentation(SR, noise_prob=0.5)(wavs, lens, labels)[0]
    untouched = float((noise_only == wavs).all(dim=1).float().mean())
    assert 0.35 < untouched < 0.65


def test_composition_everything_off_is_identity():
    wavs, lens, labels = torch.randn(3, 300), torch.tensor([1.0, 0.5, 0.2]), torch.tensor([0, 1, 2])
    wavs = wavs * (torch.arange(300) < torch.round(lens * 300).unsqueeze(1))
    augment = TrainingAugmentation(SR, noise_prob=None, babble_prob=0.0, reverb_prob=None)
    out = augment(wavs, lens, labels)
    assert augment.active_steps == []
    assert torch.equal(out[0], wavs) and out[1] is lens and out[2] is labels


def test_composition_reads_noise_and_rir_csvs(tmp_path):
    tone = 0.5 * np.sin(2 * np.pi * 3000 * np.arange(SR) / SR)
    sf.write(str(tmp_path / "noise.wav"), tone.astype("float32"), SR)
    sf.write(str(tmp_path / "rir.wav"), np.eye(1, 400)[0].astype("float32"), SR)  # a pure direct path
    for name, wav in (("noise.csv", "noise.wav"), ("rir.csv", "rir.wav")):
        (tmp_path / name).write_text(f"ID,duration,wav,wav_format,wav_opts\nx,1.0,$root/{wav},wav,\n")
    rng = np.random.default_rng(12)
    wavs = torch.tensor(0.1 * rng.standard_normal((2, 4000)), dtype=torch.float32)
    lens, labels = torch.ones(2), torch.tensor([0, 1])

    noisy = TrainingAugmentation(
        SR,
        noise_prob=1.0,
        noise_csv=str(tmp_path / "noise.csv"),
        snr_low=0,
        snr_high=0,
        noise_replacements={"root": str(tmp_path)},
    )
    out = noisy(wavs, lens, labels)[0]
    for i in range(2):
        added = (out[i] - wavs[i] * (out[i] @ wavs[i]) / (wavs[i] @ wavs[i])).numpy()
        assert abs(peak_frequency(added) - 3000) < 5

    reverb = TrainingAugmentation(
        SR, reverb_prob=1.0, reverb_csv=str(tmp_path / "rir.csv"), reverb_replacements={"root": str(tmp_path)}
    )
    assert not isinstance(reverb.reverb, SyntheticReverb)
    out = reverb(wavs, lens, labels)[0]
    np.testing.assert_allclose(out.numpy(), wavs.numpy(), atol=1e-5)  # a direct-path RIR changes nothing


def test_composition_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="noise_csv=.*missing.csv"):
        TrainingAugmentation(SR, noise_prob=1.0, noise_csv=str(tmp_path / "missing.csv"))
    with pytest.raises(ValueError, match="snr_low=15"):
        TrainingAugmentation(SR, noise_prob=1.0, snr_low=15, snr_high=0)
    with pytest.raises(ValueError, match="reverb_prob=2"):
        TrainingAugmentation(SR, reverb_prob=2)


# ----------------------------------------------------------------------------------------
# 6. feature masking
# ----------------------------------------------------------------------------------------
def test_feature_masking_zeros_whole_rows_and_columns_only():
    torch.manual_seed(13)
    feats = torch.rand(16, 120, 40) + 1.0
    before = feats.clone()
    out = FeatureMasking(
        time_width_low=2,
        time_width_high=6,
        time_count_low=1,
        time_count_high=2,
        freq_width_low=1,
        freq_width_high=5,
        freq_count_low=1,
        freq_count_high=2,
        prob=1.0,
    )(feats, torch.ones(16))
    assert out.shape == feats.shape and torch.equal(feats, before)  # input not masked in place
    for item, original in zip(out, feats):
        zero = (item == 0).numpy()
        rows, cols = zero.all(axis=1), zero.all(axis=0)
        assert rows.any() and cols.any()
        assert np.array_equal(zero, rows[:, None] | cols[None, :])  # only whole frames / whole bins
        assert rows.sum() <= 2 * 6 and cols.sum() <= 2 * 5
        assert torch.equal(item[~torch.from_numpy(zero)], original[~torch.from_numpy(zero)])


def test_feature_masking_prob_and_arguments():
    feats = torch.rand(64, 50, 20) + 1.0
    assert torch.equal(FeatureMasking(prob=0.0)(feats, torch.ones(64)), feats)
    torch.manual_seed(14)
    out = FeatureMasking(prob=0.5)(feats, torch.ones(64))
    masked = (out == 0).flatten(1).any(dim=1).float().mean()
    assert 0.3 < float(masked) < 0.7
    with pytest.raises(ValueError, match="random_selection"):
        FeatureMasking(replace="random_selection")
    with pytest.raises(ValueError, match="time_width_low=9"):
        FeatureMasking(time_width_low=9, time_width_high=3)


# ----------------------------------------------------------------------------------------
# 7. random batch crop
# ----------------------------------------------------------------------------------------
def test_random_batch_crop_takes_contiguous_slices_of_valid_samples():
    total = 1000
    counts = [1000, 800, 450, 300, 0]
    rng = np.random.default_rng(15)
    items = [rng.standard_normal(n) for n in counts]
    wavs, lens = padded_batch(items, total)
    generator = torch.Generator().manual_seed(16)
    for _ in range(5):
        out, out_lens = random_batch_crop(wavs, lens, 350, 500, generator=generator)
        length = out.shape[1]
        assert 350 <= length <= 500 and out.shape[0] == 5
        for x, y, rel in zip(items, out.numpy(), out_lens.tolist()):
            if len(x) > length:
                windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float32), length)
                assert np.any(np.all(windows == y, axis=1))  # one contiguous slice of the valid part
                assert rel == 1.0
            else:
                assert np.array_equal(y[: len(x)], x.astype(np.float32)) and np.all(y[len(x) :] == 0)
                assert abs(rel - len(x) / length) < 1e-6


def test_random_batch_crop_draws_lengths_and_offsets_reproducibly():
    wavs, lens = torch.arange(2000.0).repeat(4, 1), torch.ones(4)
    first = [random_batch_crop(wavs, lens, 100, 900, torch.Generator().manual_seed(s)) for s in range(6)]
    again = [random_batch_crop(wavs, lens, 100, 900, torch.Generator().manual_seed(s)) for s in range(6)]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again))
    assert len({out.shape[1] for out, _ in first}) > 1
    assert len({int(v) for out, _ in first for v in out[:, 0]}) > 6  # offsets differ per item


def test_random_batch_crop_longer_than_batch_is_a_no_op_and_bad_range():
    wavs, lens = torch.randn(2, 300), torch.tensor([1.0, 0.5])
    out, out_lens = random_batch_crop(wavs, lens, 300, 5000)
    assert torch.equal(out, wavs) and torch.equal(out_lens, lens)
    with pytest.raises(ValueError, match="min_samples=500 is above max_samples=100"):
        random_batch_crop(wavs, lens, 500, 100)


def test_crop_to_shortest_cuts_every_item_to_a_slice_of_its_own_valid_samples():
    from custom_modules.data.augmentation import crop_to_shortest

    torch.manual_seed(0)
    counts = [1000, 900, 1111, 950]
    wavs = torch.zeros(4, 1111)
    for i, n in enumerate(counts):
        wavs[i, :n] = torch.arange(1, n + 1, dtype=torch.float32) + 10000 * i
    lens = torch.tensor(counts, dtype=torch.float32) / 1111
    cropped, new_lens = crop_to_shortest(wavs, lens)
    assert cropped.shape == (4, 900) and new_lens.tolist() == [1.0] * 4
    for i, n in enumerate(counts):
        start = int(cropped[i, 0]) - 10000 * i - 1
        assert 0 <= start <= n - 900  # a slice of the valid samples, never of the padding
        assert torch.equal(cropped[i], wavs[i, start : start + 900])


def test_training_augmentation_with_equal_lengths_leaves_no_padding():
    from custom_modules.data.augmentation import SpeedPerturbSpeakers, TrainingAugmentation

    labels = torch.tensor([0, 1, 2, 3] * 4)
    unequal = TrainingAugmentation(16000, speed_perturb=SpeedPerturbSpeakers(16000, 4))
    torch.manual_seed(0)
    padded, lens, _ = unequal(torch.randn(16, 1600), torch.ones(16), labels)
    assert lens.min() < 1.0  # without it, the slowed items pad the batch
    shortest = int(torch.round(lens.min() * padded.shape[1]))
    assert shortest in (1455, 1600)  # ceil(1600 * 100 / 110) when a speed-110 item was drawn
    equal = TrainingAugmentation(16000, speed_perturb=SpeedPerturbSpeakers(16000, 4), equal_lengths=True)
    torch.manual_seed(0)  # the same speeds are drawn
    wavs, lens, _ = equal(torch.randn(16, 1600), torch.ones(16), labels)
    assert lens.tolist() == [1.0] * 16 and wavs.shape[1] == shortest


def test_length_step_rounds_the_common_length_down_to_the_grid():
    from custom_modules.data.augmentation import SpeedPerturbSpeakers, TrainingAugmentation, crop_to_shortest

    wavs = torch.randn(3, 5000)
    lens = torch.tensor([1.0, 0.9, 0.75])  # shortest: 3750 samples
    assert crop_to_shortest(wavs, lens, step=1600)[0].shape == (3, 3200)
    assert crop_to_shortest(wavs, lens, step=3750)[0].shape == (3, 3750)
    assert crop_to_shortest(wavs, lens, step=4000)[0].shape == (3, 3750)  # shorter than a step: kept
    labels = torch.tensor([0, 1, 2, 3] * 4)
    seen = set()
    stepped = TrainingAugmentation(
        16000, speed_perturb=SpeedPerturbSpeakers(16000, 4), equal_lengths=True, length_step_seconds=0.1
    )
    torch.manual_seed(0)
    for length in (16000, 14400, 12345):
        out, out_lens, _ = stepped(torch.randn(16, length), torch.ones(16), labels)
        assert out_lens.tolist() == [1.0] * 16 and out.shape[1] % 1600 == 0
        seen.add(out.shape[1])
    assert seen == {14400, 12800, 11200}  # floor(16000 / 1.1), floor(14400 / 1.1), floor(12345 / 1.1) on the grid
    with pytest.raises(ValueError, match="set equal_lengths: True"):
        TrainingAugmentation(16000, length_step_seconds=0.1)
    with pytest.raises(ValueError, match="length_step_seconds=-1"):
        TrainingAugmentation(16000, equal_lengths=True, length_step_seconds=-1)
