"""Res2Net50 encoder: architecture, shapes and padding invariance."""

import pytest
import torch
import torch.nn as nn

from custom_modules.models.res2net import (
    AttentiveStatisticsPooling,
    Res2Net50,
    Res2NetBottleneck,
    Res2NetSpeakerEncoder,
    StatisticsPooling,
)


def conv_count(module):
    return sum(isinstance(m, nn.Conv2d) for m in module.modules())


def test_res2net50_depth_widths_and_stage_blocks():
    enc = Res2Net50(input_size=80, m_channels=32)
    blocks = list(enc.blocks)
    assert len(blocks) == 3 + 4 + 6 + 3
    # stem + 16 bottlenecks x (1x1 + 3 split 3x3 + 1x1) + 4 projection shortcuts
    assert conv_count(enc) == 1 + 16 * 5 + 4
    firsts = [0, 3, 7, 13]
    assert [i for i, b in enumerate(blocks) if b.stage_first] == firsts
    assert all(isinstance(blocks[i].pool, nn.AvgPool2d) for i in firsts)
    assert all(b.pool is None for i, b in enumerate(blocks) if i not in firsts)
    assert [blocks[i].stride for i in firsts] == [1, 2, 2, 2]
    # 26w x 4s: width = floor(planes * 26 / 64) per split, planes = 32 * 2^stage
    assert [blocks[i].width for i in firsts] == [13, 26, 52, 104]
    assert [blocks[i].conv3.out_channels for i in firsts] == [128, 256, 512, 1024]
    assert enc.embedding.in_features == 2 * 1024 * 10  # 80 bins / 8


@pytest.mark.parametrize("pooling", ["stats", "attentive"])
def test_output_shape_and_embedding_dim(pooling):
    enc = Res2Net50(input_size=40, m_channels=8, embedding_dim=192, pooling=pooling).eval()
    out = enc(torch.randn(3, 57, 40), torch.tensor([1.0, 0.7, 0.2]))
    assert out.shape == (3, 1, 192) and out.dtype == torch.float32


@pytest.mark.parametrize("pooling", ["stats", "attentive"])
@pytest.mark.parametrize("short", [60, 37, 1])
def test_padding_does_not_change_a_short_utterance_embedding(pooling, short):
    torch.manual_seed(0)
    enc = Res2Net50(input_size=40, m_channels=8, embedding_dim=64, pooling=pooling).eval()
    # give batch norm non-trivial statistics so padded frames would leak if not masked
    for m in enc.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.bias.data.uniform_(-0.5, 0.5)
    long = torch.randn(1, 120, 40)
    alone = torch.randn(1, short, 40)
    padded = torch.zeros(1, 120, 40)
    padded[:, :short] = alone
    batch = torch.cat([long, padded])
    with torch.no_grad():
        together = enc(batch, torch.tensor([1.0, short / 120]))
        single = enc(alone, torch.tensor([1.0]))
        long_alone = enc(long)
    assert torch.allclose(together[1], single[0], atol=1e-5, rtol=1e-4)
    assert torch.allclose(together[0], long_alone[0], atol=1e-5, rtol=1e-4)


def test_statistics_pooling_matches_numpy_reference():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9)
    frames = torch.tensor([9, 4])
    out = StatisticsPooling(eps=0.0)(x, frames)
    for b, n in enumerate(frames.tolist()):
        ref = x[b, :, :n].double().numpy()
        assert torch.allclose(out[b, :3], torch.tensor(ref.mean(1)).float(), atol=1e-6)
        assert torch.allclose(out[b, 3:], torch.tensor(ref.std(1)).float(), atol=1e-6)


def test_attentive_pooling_ignores_padded_frames_and_is_float32_under_autocast():
    torch.manual_seed(0)
    pool = AttentiveStatisticsPooling(4, attention_channels=8).eval()
    x = torch.randn(1, 4, 10)
    y = x.clone()
    y[..., 6:] = 1e3
    assert torch.allclose(pool(x, torch.tensor([6])), pool(y, torch.tensor([6])))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert pool(x.bfloat16(), torch.tensor([10])).dtype == torch.float32


def test_res2net34_style_variant_is_a_configuration_change():
    enc = Res2NetSpeakerEncoder(
        input_size=40, m_channels=8, num_blocks=(3, 4, 6, 3), expansion=1, base_width=32, scale=2, embedding_dim=32
    )
    assert enc.blocks[-1].conv3.out_channels == 64
    assert enc(torch.randn(2, 30, 40)).shape == (2, 1, 32)


def test_bad_input_shape_and_arguments_raise():
    enc = Res2Net50(input_size=80, m_channels=8)
    with pytest.raises(ValueError, match=r"\(batch, time, 80\).*got \(2, 30, 40\)"):
        enc(torch.randn(2, 30, 40))
    with pytest.raises(ValueError, match="pooling"):
        Res2Net50(pooling="max")
    with pytest.raises(ValueError, match="fixes num_blocks"):
        Res2Net50(num_blocks=(2, 2, 2, 2))
    with pytest.raises(ValueError, match="scale must be >= 2"):
        Res2NetBottleneck(8, 8, scale=1)


def test_gradients_flow_to_every_parameter():
    enc = Res2Net50(input_size=40, m_channels=8, embedding_dim=16)
    enc(torch.randn(2, 25, 40)).sum().backward()
    missing = [n for n, p in enc.named_parameters() if p.grad is None]
    assert missing == []


def test_channels_last_layout_computes_the_same_function():
    """The same code in two memory layouts, in float64 so that rounding cannot hide a
    difference: training-mode outputs and gradients agree to 1e-9, eval outputs too."""
    torch.manual_seed(0)
    fast = Res2Net50(input_size=40, m_channels=8, embedding_dim=32).double()
    plain = Res2Net50(input_size=40, m_channels=8, embedding_dim=32, channels_last=False).double()
    plain.load_state_dict(fast.state_dict())
    assert fast.blocks[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert plain.blocks[0].conv1.weight.is_contiguous()
    x, lens = torch.randn(8, 50, 40, dtype=torch.float64), torch.tensor([1.0, 0.7, 0.5, 1.0, 1.0, 0.9, 0.8, 1.0])
    for lengths in (lens, torch.ones(8)):  # padded (masks) and unpadded (no masks)

        def train_step(model, lengths=lengths):
            model.train().zero_grad()
            out = model(x, lengths)
            out.pow(2).sum().backward()
            return out.detach(), torch.cat([p.grad.flatten() for p in model.parameters()])

        (out, grad), (reference, reference_grad) = train_step(fast), train_step(plain)
        assert out.dtype == torch.float64
        assert torch.allclose(out, reference, atol=1e-9, rtol=1e-9)
        assert torch.allclose(grad, reference_grad, atol=1e-9, rtol=1e-7)
        with torch.no_grad():
            assert torch.allclose(fast.eval()(x, lengths), plain.eval()(x, lengths), atol=1e-9, rtol=1e-9)


def test_a_batch_without_padding_skips_every_mask(monkeypatch):
    import custom_modules.models.res2net as res2net

    masked = []
    original = res2net._masked
    monkeypatch.setattr(res2net, "_masked", lambda x, mask: masked.append(mask is not None) or original(x, mask))
    enc = Res2Net50(input_size=40, m_channels=4, embedding_dim=16).eval()
    x = torch.randn(3, 33, 40)
    with torch.no_grad():
        dense = enc(x, torch.ones(3))
        assert masked and not any(masked)
        masked.clear()
        # the same batch marked as padded by one frame goes through the masks, and its full
        # items are unchanged (the masks only zero padded frames)
        padded = enc(x, torch.tensor([1.0, 1.0, 32 / 33]))
        assert any(masked)
    assert torch.allclose(dense[:2], padded[:2], atol=1e-6)


@pytest.mark.parametrize("train", [False, True])
def test_always_mask_builds_masks_for_an_unpadded_batch_with_the_same_outputs(monkeypatch, train):
    """The graph-export switch: no data-dependent skip, every mask built, outputs unchanged."""
    import custom_modules.models.res2net as res2net

    masked = []
    original = res2net._masked
    monkeypatch.setattr(res2net, "_masked", lambda x, mask: masked.append(mask is not None) or original(x, mask))
    torch.manual_seed(0)
    enc = Res2Net50(input_size=40, m_channels=4, embedding_dim=16).train(train)
    x, lens = torch.randn(3, 33, 40), torch.ones(3)
    with torch.no_grad():
        reference = enc(x, lens)
        assert not any(masked)
        enc.always_mask = True
        masked.clear()
        switched = enc(x, lens)
        assert masked and all(masked)
        padded_reference = enc(x, torch.tensor([1.0, 0.5, 0.2]))
        enc.always_mask = False
        assert torch.allclose(padded_reference, enc(x, torch.tensor([1.0, 0.5, 0.2])), atol=0, rtol=0)
    assert torch.allclose(reference, switched, atol=1e-6)
