"""custom_modules.models.channels_last against PyTorch's own operations, in float64."""

import pytest
import torch
import torch.nn as nn

from custom_modules.models.channels_last import NarrowBatchNorm2d, cat_channels

CL = torch.channels_last


def _channels_last(*shape, scale=3.0, shift=1.0):
    return (torch.randn(*shape, dtype=torch.float64) * scale + shift).contiguous(memory_format=CL)


@pytest.mark.parametrize(
    "momentum, affine, shape",
    [
        (0.1, True, (4, 5, 6, 7)),  # 168 frames: read 8 rows at a time
        (None, True, (4, 5, 6, 7)),
        (0.3, False, (4, 5, 6, 7)),
        (0.1, True, (3, 5, 3, 7)),  # 63 frames, odd: one row at a time
        (0.1, True, (2, 5, 3, 2)),  # 12 frames: 4 rows at a time
    ],
)
def test_narrow_batch_norm_matches_batch_norm2d_over_steps(momentum, affine, shape):
    from custom_modules.models.channels_last import _row_groups

    assert _row_groups(shape[0] * shape[2] * shape[3], 5) == {168: 8, 63: 1, 12: 4}[shape[0] * shape[2] * shape[3]]
    torch.manual_seed(0)
    ours = NarrowBatchNorm2d(5, momentum=momentum, affine=affine).double()
    ref = nn.BatchNorm2d(5, momentum=momentum, affine=affine).double()
    if affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.normal_()
    ours.load_state_dict(ref.state_dict())
    for _ in range(3):
        x = _channels_last(*shape).requires_grad_()
        grad = _channels_last(*shape)
        out = ours(x)
        assert out.is_contiguous(memory_format=CL)
        out.backward(grad)
        ours_grad = x.grad.clone()
        x.grad = None
        expected = ref(x)
        expected.backward(grad)
        assert torch.allclose(out, expected, atol=1e-12)
        assert torch.allclose(ours_grad, x.grad, atol=1e-12)
        assert ours_grad.is_contiguous(memory_format=CL)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.allclose(getattr(ours, name).double(), getattr(ref, name).double(), atol=1e-12), name
    if affine:
        assert torch.allclose(ours.weight.grad, ref.weight.grad, atol=1e-10)
        assert torch.allclose(ours.bias.grad, ref.bias.grad, atol=1e-10)
    ours.eval(), ref.eval()
    x = _channels_last(2, 5, 3, 4)
    assert torch.allclose(ours(x), ref(x), atol=1e-12)


def test_narrow_batch_norm_hands_other_inputs_to_the_native_kernel(monkeypatch):
    import custom_modules.models.channels_last as module

    calls = []
    original = module._NarrowBatchNormTrain.apply
    monkeypatch.setattr(module._NarrowBatchNormTrain, "apply", lambda *a: calls.append(1) or original(*a))
    bn = NarrowBatchNorm2d(4)
    bn(torch.randn(3, 4, 5, 6))  # NCHW
    bn(torch.randn(3, 4, 5, 6).contiguous(memory_format=CL).transpose(2, 3))  # strided
    NarrowBatchNorm2d(16)(torch.randn(3, 16, 5, 6).contiguous(memory_format=CL))  # wide
    bn.eval()(torch.randn(3, 4, 5, 6).contiguous(memory_format=CL))  # evaluation
    assert calls == []
    bn.train()(torch.randn(3, 4, 5, 6).contiguous(memory_format=CL))
    assert calls == [1]
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(torch.randn(1, 4, 1, 1).contiguous(memory_format=CL))


def test_cat_channels_gives_torch_cat_values_and_dense_gradients():
    pieces = [_channels_last(2, c, 4, 5).requires_grad_() for c in (3, 1, 2)]
    twins = [p.detach().clone().requires_grad_() for p in pieces]
    out = cat_channels(pieces)
    expected = torch.cat(twins, dim=1)
    assert torch.equal(out, expected)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    for piece, twin in zip(pieces, twins):
        assert torch.equal(piece.grad, twin.grad)
        assert piece.grad.is_contiguous(memory_format=CL)
    # without gradients it is torch.cat itself
    with torch.no_grad():
        assert torch.equal(cat_channels(pieces), expected)
