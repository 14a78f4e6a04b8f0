"""Channels-last building blocks for CPU training of narrow split layers (Res2Net).

Res2Net splits a bottleneck's channels into ``scale`` groups of ``width`` channels (6 in the
first stage of Res2Net50 with ``m_channels=16``). In channels-last (NHWC) memory, which the
oneDNN convolutions want, a channel slice of a tensor is strided, and two PyTorch paths are
slow on such tensors:

- The gradient of ``torch.cat`` hands each input a strided slice of the output gradient;
  every element-wise kernel and batch norm downstream then runs on strided memory (ReLU's
  backward was 25x slower on a 6-channel slice than on a dense tensor).
  :func:`cat_channels` concatenates like ``torch.cat(..., dim=1)`` and gives each input a
  dense gradient in the input's own memory format.
- PyTorch's channels-last batch norm vectorises over channels, so with fewer channels than
  one vector most lanes idle, and with two threads it gets slower still: a training
  forward + backward of a (32, 6, 80, 101) tensor took 16 ms at one thread and 28 ms at
  two, against 5 ms in NCHW. :class:`NarrowBatchNorm2d` is ``nn.BatchNorm2d`` (same
  parameters, buffers and state dict) that in training normalises channels-last inputs of
  fewer than 16 channels with per-column reductions and element-wise passes over the
  (frames, channels) matrix read g rows at a time, as a (frames / g, g * channels) matrix
  (8 rows of 6 channels: 48 values per row, which vectorise; per-channel vectors are tiled
  g times): for (32, 6, 80, 101), 5.7 ms at one thread and 3.6 ms at two against the
  native 12.9 and 13.6 (9.0 and 7.3 with one row at a time); for (32, 13, 40, 51), 2.9 and
  1.8 ms against 3.3 and 4.4. A whole Res2Net50 (m16) training step got 3% (one thread)
  and 4% (two) faster from the g rows. Everything else goes to the native kernel.

Both give the same values as the native operations up to float rounding (tested in float64
against ``torch.cat`` and ``nn.BatchNorm2d``: outputs, gradients and running statistics).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from custom_modules.models.batch_norm_act import update_running_statistics

__all__ = ["cat_channels", "NarrowBatchNorm2d", "memory_format_of"]


def memory_format_of(x: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last`` for a 4-D tensor laid out channels-last (and not also plainly
    contiguous), else ``torch.contiguous_format``.

    Example
    -------
    >>> memory_format_of(torch.zeros(2, 3, 4, 5).contiguous(memory_format=torch.channels_last))
    torch.channels_last
    >>> memory_format_of(torch.zeros(2, 3, 4, 5)[:, :2])  # a channel slice of NCHW memory
    torch.contiguous_format
    """
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class _ConcatChannels(torch.autograd.Function):
    """torch.cat over dim 1 whose backward returns dense gradients."""

    @staticmethod
    def forward(ctx, *pieces: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.sizes = [p.shape[1] for p in pieces]
        ctx.formats = [memory_format_of(p) for p in pieces]
        return torch.cat(pieces, dim=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        slices = torch.split(grad, ctx.sizes, dim=1)
        return tuple(
            g.contiguous(memory_format=fmt) if needed else None
            for g, fmt, needed in zip(slices, ctx.formats, ctx.needs_input_grad)
        )


def cat_channels(pieces: Sequence[torch.Tensor]) -> torch.Tensor:
    """``torch.cat(pieces, dim=1)``, each piece's gradient dense in that piece's layout.

    Example
    -------
    >>> a = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    >>> b = torch.randn(2, 2, 4, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    >>> out = cat_channels([a, b])
    >>> out.shape, torch.equal(out, torch.cat([a, b], dim=1))
    (torch.Size([2, 5, 4, 5]), True)
    >>> out.sum().backward()
    >>> a.grad.is_contiguous(memory_format=torch.channels_last)
    True
    """
    if not torch.is_grad_enabled() or not any(p.requires_grad for p in pieces):
        return torch.cat(list(pieces), dim=1)
    return _ConcatChannels.apply(*pieces)


def _row_groups(rows: int, channels: int, lanes: int = 64) -> int:
    """How many consecutive rows of a (rows, channels) matrix to read as one row: the
    largest power of two that divides ``rows`` and keeps ``groups * channels`` within
    ``lanes`` values, so that per-channel vectors tiled ``groups`` times vectorise.

    Example
    -------
    >>> _row_groups(258560, 6), _row_groups(168, 5), _row_groups(7, 6), _row_groups(100, 64)
    (8, 8, 1, 1)
    """
    groups = 1
    while 2 * groups * channels <= lanes and rows % (2 * groups) == 0:
        groups *= 2
    return groups


class _NarrowBatchNormTrain(torch.autograd.Function):
    """Training-mode batch norm of a channels-last (N, C, H, W) tensor read as a
    (N*H*W / g, g*C) matrix (g rows of C channels side by side, see :func:`_row_groups`);
    returns the output and the batch mean and biased variance. Column sums of that matrix
    folded over its g groups are the per-channel sums; per-channel vectors are tiled g
    times. With C = 6 an element-wise pass then runs over rows of 48 values instead of 6."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):  # type: ignore[override]
        channels = x.shape[1]
        count = x.numel() // channels
        groups = _row_groups(count, channels)
        rows = x.permute(0, 2, 3, 1).reshape(count // groups, groups * channels)  # a view: x is channels-last
        mean = rows.sum(0).view(groups, channels).sum(0).div_(count)
        xhat = rows - mean.repeat(groups)
        var = xhat.square().sum(0).view(groups, channels).sum(0).div_(count)
        invstd = (var + eps).rsqrt_()
        xhat.mul_(invstd.repeat(groups))
        out = torch.empty_like(x, memory_format=torch.channels_last)
        out_rows = out.permute(0, 2, 3, 1).view(count // groups, groups * channels)
        if weight is None:
            out_rows.copy_(xhat)
        else:
            torch.addcmul(bias.repeat(groups), xhat, weight.repeat(groups), out=out_rows)
        ctx.save_for_backward(xhat, invstd, weight)
        ctx.shape, ctx.groups = x.shape, groups
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    def backward(ctx, grad, _grad_mean, _grad_var):  # type: ignore[override]
        xhat, invstd, weight = ctx.saved_tensors
        groups = ctx.groups
        channels = ctx.shape[1]
        count = xhat.numel() // channels
        grad_rows = grad.permute(0, 2, 3, 1)
        if not grad_rows.is_contiguous():
            grad_rows = grad_rows.contiguous()
        grad_rows = grad_rows.view(xhat.shape)
        grad_bias = grad_rows.sum(0).view(groups, channels).sum(0)
        grad_weight = (grad_rows * xhat).sum(0).view(groups, channels).sum(0)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.empty(ctx.shape, dtype=grad.dtype, device=grad.device)
            grad_x = grad_x.contiguous(memory_format=torch.channels_last)
            rows = grad_x.permute(0, 2, 3, 1).view(xhat.shape)
            # dx = w * invstd * (g - mean(g) - xhat * mean(g * xhat))
            torch.mul(xhat, (grad_weight / -count).repeat(groups), out=rows)
            rows += grad_rows
            rows -= (grad_bias / count).repeat(groups)
            rows.mul_((invstd if weight is None else weight * invstd).repeat(groups))
        if weight is None:
            return grad_x, None, None, None
        return grad_x, grad_weight, grad_bias, None


class NarrowBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with a faster training path for narrow channels-last inputs.

    In training mode, with running statistics tracked and a channels-last input of at most
    ``narrow_channels`` channels, the batch statistics are column reductions of the
    (frames, channels) matrix; the running statistics are updated as ``nn.BatchNorm2d``
    does (momentum, or the cumulative average when ``momentum`` is None; unbiased running
    variance). Every other case, evaluation included, is ``nn.BatchNorm2d`` itself.

    Example
    -------
    >>> bn, ref = NarrowBatchNorm2d(6), nn.BatchNorm2d(6)
    >>> x = torch.randn(4, 6, 5, 7).contiguous(memory_format=torch.channels_last)
    >>> torch.allclose(bn(x), ref(x), atol=1e-5), torch.allclose(bn.running_var, ref.running_var)
    (True, True)
    """

    narrow_channels = 15  # fewer than one AVX-512 vector of floats: measured faster below 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (
            self.training
            and self.track_running_stats
            and x.dim() == 4
            and x.shape[1] <= self.narrow_channels
            and x.numel() > x.shape[1]  # one value per channel: the native error
            and x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous()
        ):
            return super().forward(x)
        out, mean, var = _NarrowBatchNormTrain.apply(x, self.weight, self.bias, self.eps)
        update_running_statistics(self, mean, var, x.numel() // x.shape[1])
        return out
