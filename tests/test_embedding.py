"""The shared waveform -> embedding path: exact frame lengths and padding invariance."""

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn as nn
from speechbrain.processing.features import InputNormalization

from custom_modules.embedding import EmbeddingExtractor, embed_utterances, frame_lengths, pad_batch
from custom_modules.features import SpeakerFeatures
from custom_modules.res2net import Res2Net50


@pytest.fixture
def extractor():
    torch.manual_seed(0)
    enc = Res2Net50(input_size=40, m_channels=4, embedding_dim=16)
    for m in enc.modules():  # non-trivial statistics, so leaking padding would show
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.bias.data.uniform_(-0.3, 0.3)
    return EmbeddingExtractor(SpeakerFeatures("fbank", 40), InputNormalization(norm_type="sentence", std_norm=False), enc).eval()


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
