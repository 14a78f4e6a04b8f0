"""The shared waveform -> embedding path: exact frame lengths and padding invariance."""

import os

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn as nn
from speechbrain.processing.features import InputNormalization

from custom_modules.models.embedding import EmbeddingExtractor, embed_utterances, frame_lengths, pad_batch
from custom_modules.models.features import SpeakerFeatures
from custom_modules.models.res2net import Res2Net50

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def extractor():
    torch.manual_seed(0)
    enc = Res2Net50(input_size=40, m_channels=4, embedding_dim=16)
    for m in enc.modules():  # non-trivial statistics, so leaking padding would show
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.bias.data.uniform_(-0.3, 0.3)
    return EmbeddingExtractor(
        SpeakerFeatures("fbank", 40), InputNormalization(norm_type="sentence", std_norm=False), enc
    ).eval()


@pytest.mark.parametrize("samples", [16000, 12345, 8000, 161, 1])
def test_frame_lengths_match_the_frames_of_the_unpadded_signal(samples):
    feats = SpeakerFeatures("fbank", 40)
    alone = feats(torch.randn(1, samples)).shape[1]
    wavs, lens = pad_batch([torch.randn(20000), torch.randn(samples)])
    padded_frames = feats(wavs).shape[1]
    rel = frame_lengths(lens, wavs.shape[1], padded_frames, feats.hop_samples)
    assert int(torch.round(rel[1] * padded_frames)) == alone
    assert int(torch.round(rel[0] * padded_frames)) == padded_frames


def test_embedding_alone_equals_embedding_in_padded_batch(extractor):
    torch.manual_seed(1)
    signals = [torch.randn(16000) * 0.1, torch.randn(12345) * 0.1, torch.randn(7001) * 0.1]
    wavs, lens = pad_batch(signals)
    with torch.no_grad():
        together = extractor(wavs, lens).squeeze(1)
        for row, signal in enumerate(signals):
            alone = extractor(signal[None], torch.ones(1)).squeeze(1)[0]
            assert torch.allclose(together[row], alone, atol=1e-5), (row, (together[row] - alone).abs().max())


def test_embed_utterances_keeps_input_order_and_is_batching_independent(extractor, tmp_path):
    rng = np.random.default_rng(0)
    segments = []
    for i, n in enumerate([9000, 4000, 16000, 5500, 12000]):
        path = str(tmp_path / f"u{i}.wav")
        sf.write(path, (0.1 * rng.standard_normal(n)).astype("float32"), 16000, subtype="FLOAT")
        segments.append((path, None, None))
    segments.append((segments[2][0], 1000, 9000))  # a segment of a file
    one = embed_utterances(extractor, segments, batch_size=1)
    many = embed_utterances(extractor, segments, batch_size=4)
    assert one.shape == (6, 16) and one.dtype == np.float32
    assert np.allclose(one, many, atol=1e-5)
    with torch.no_grad():
        sig, _ = sf.read(segments[3][0], dtype="float32")
        direct = extractor(torch.from_numpy(sig)[None], torch.ones(1)).reshape(-1).numpy()
    assert np.allclose(one[3], direct, atol=1e-5)


class _MeanAndLength(nn.Module):
    """A stand-in extractor: (mean of the valid samples, valid samples / 1000) per row; it
    records the shape of every batch it gets."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def forward(self, wavs, lens):
        self.shapes.append(tuple(wavs.shape))
        counts = torch.round(lens * wavs.shape[1]).long()
        mask = torch.arange(wavs.shape[1])[None, :] < counts[:, None]
        means = (wavs * mask).sum(1) / counts
        return torch.stack([means, counts / 1000.0], dim=1)[:, None, :]


def test_long_files_are_the_mean_of_half_overlapping_windows_within_a_memory_budget(tmp_path):
    rate = 1000
    rng = np.random.default_rng(0)
    long_signal = (0.1 * rng.standard_normal(10 * rate)).astype(np.float32)  # 10 s
    sf.write(tmp_path / "long.wav", long_signal, rate, subtype="FLOAT")
    shorts = []
    for i, seconds in enumerate((1.0, 2.5, 3.0, 4.0)):
        signal = (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32)
        sf.write(tmp_path / f"s{i}.wav", signal, rate, subtype="FLOAT")
        shorts.append(signal)
    extractor = _MeanAndLength()
    segments = [(str(tmp_path / "long.wav"), None, None)] + [
        (str(tmp_path / f"s{i}.wav"), None, None) for i in range(4)
    ]
    emb = embed_utterances(extractor, segments, sample_rate=rate, batch_size=16, max_seconds=4.0, batch_seconds=9.0)
    windows = [(0, 4000), (2000, 6000), (4000, 8000), (6000, 10000)]
    expected_long = np.mean([long_signal[a:b].mean() for a, b in windows])
    assert emb[0, 0] == pytest.approx(expected_long, abs=1e-6) and emb[0, 1] == pytest.approx(4.0)
    for row, signal in enumerate(shorts, start=1):  # at most 4 s: embedded whole, as before
        assert emb[row, 0] == pytest.approx(signal.mean(), abs=1e-6) and emb[row, 1] == pytest.approx(
            len(signal) / 1000
        )
    assert max(b * t for b, t in extractor.shapes) <= 9 * rate  # no batch above 9 s of padded audio
    assert max(t for _, t in extractor.shapes) == 4 * rate  # never more than one window of a file at a time
    unbounded = embed_utterances(_MeanAndLength(), segments, sample_rate=rate, max_seconds=None, batch_seconds=None)
    assert unbounded[0, 0] == pytest.approx(long_signal.mean(), abs=1e-6) and unbounded[0, 1] == pytest.approx(10.0)


def test_embed_per_window_gives_the_windows_whose_mean_is_the_averaged_embedding(tmp_path):
    """recipes/embed.py --per_window: one item per window of a long file (the windows the
    averaged embedding uses), IDs <id>@<start>-<end> seconds; short files stay whole."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("embed_recipe", os.path.join(ROOT, "recipes", "embed.py"))
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    rate = 1000
    rng = np.random.default_rng(1)
    sf.write(tmp_path / "long.wav", (0.1 * rng.standard_normal(10 * rate)).astype(np.float32), rate, subtype="FLOAT")
    sf.write(tmp_path / "short.wav", (0.1 * rng.standard_normal(3 * rate)).astype(np.float32), rate, subtype="FLOAT")
    segments = [(str(tmp_path / "long.wav"), None, None), (str(tmp_path / "short.wav"), None, None)]
    ids, pieces = recipe.per_window(["long", "short"], segments, max_seconds=4.0, sample_rate=rate)
    assert ids == ["long@0.00-4.00", "long@2.00-6.00", "long@4.00-8.00", "long@6.00-10.00", "short"]
    assert pieces[1] == (str(tmp_path / "long.wav"), 2000, 6000) and pieces[-1] == segments[1]
    each = embed_utterances(_MeanAndLength(), pieces, sample_rate=rate, max_seconds=4.0)
    averaged = embed_utterances(_MeanAndLength(), segments, sample_rate=rate, max_seconds=4.0)
    assert np.allclose(each[:4].mean(axis=0), averaged[0], atol=1e-6) and np.allclose(each[4], averaged[1])
