"""Training batch norm, residual addition and ReLU in one pass over channels-last memory.

``batch_norm_act(bn, x, relu=True, residual=r)`` is ``relu(bn(x) + r)``: what a ResNet block
does after its convolutions. On a CPU, in training mode, for float32 channels-last input, it
runs the C kernels of ``kernels/batch_norm_nhwc.c`` (:mod:`custom_modules.models.c_kernels`):

- forward: one pass for the batch statistics, one that writes the output with the
  addition and ReLU applied (PyTorch: two for batch norm, then one each for the addition
  and ReLU, each a read and a write of the whole tensor);
- backward: one pass for the per-channel sums, one that writes the input's gradient, both
  reading the ReLU mask from the output (PyTorch: ReLU's backward, then two for batch norm).

Every element-wise pass reads rows of up to 64 values (several rows of a narrow channel count
side by side), so it vectorises for 6, 13, 26 or 52 channels, where PyTorch's channels-last
batch norm idles most vector lanes and, at those widths, gets no faster with a second thread.
A Res2Net50 (m16) training step: 1.42 -> 1.20 s at two threads (``results/benchmark_encoders.md``).
Sums are accumulated in double, so the statistics and gradients are closer to a float64
computation than PyTorch's float32 kernels are (tested).

Everything else (evaluation mode, float64 or half input, NCHW memory, no running statistics,
no affine parameters, ``SyncBatchNorm``, or no C compiler on the machine) runs ``bn(x)``, ``+= residual`` and
``relu_`` as before, so results agree up to float rounding either way. The module's state
(parameters, running statistics, ``num_batches_tracked``) is updated as ``nn.BatchNorm2d``
updates it.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from custom_modules.models.c_kernels import batch_norm_library

__all__ = ["batch_norm_act", "update_running_statistics", "uses_c_kernel"]

_SERIAL_BELOW = 1 << 15  # elements: smaller tensors are done on one thread (no fork/join cost)


def _pointer(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _threads(numel: int) -> int:
    return 1 if numel < _SERIAL_BELOW else torch.get_num_threads()


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t if t.is_contiguous(memory_format=torch.channels_last) else t.contiguous(memory_format=torch.channels_last)


def update_running_statistics(
    bn: nn.modules.batchnorm._BatchNorm, mean: torch.Tensor, var: torch.Tensor, count: int
) -> None:
    """Update ``bn``'s running mean and (unbiased) variance and ``num_batches_tracked`` from a
    batch's mean and biased variance over ``count`` values, as ``nn.BatchNorm2d`` does in
    training (momentum, or the cumulative average when ``momentum`` is None).

    Example
    -------
    >>> bn = nn.BatchNorm2d(1)
    >>> update_running_statistics(bn, torch.tensor([2.0]), torch.tensor([1.0]), count=5)
    >>> bn.running_mean.tolist(), bn.running_var.tolist(), int(bn.num_batches_tracked)
    ([0.2000...], [1.0249...], 1)
    """
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        factor = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        bn.running_mean.mul_(1.0 - factor).add_(mean, alpha=factor)
        bn.running_var.mul_(1.0 - factor).add_(var * (count / max(count - 1, 1)), alpha=factor)


class _BatchNormActNHWC(torch.autograd.Function):
    """relu?(batch_norm(x) + residual?) in training mode, channels-last float32 (C kernels)."""

    @staticmethod
    def forward(ctx, x, weight, bias, residual, eps, relu):  # type: ignore[override]
        library = batch_norm_library()
        channels = x.shape[1]
        rows = x.numel() // channels
        threads = _threads(x.numel())
        mean, var = x.new_empty(channels), x.new_empty(channels)
        if library.bn_nhwc_stats_f32(x.data_ptr(), rows, channels, mean.data_ptr(), var.data_ptr(), threads):
            raise MemoryError("batch_norm_act: out of memory for the batch-norm sums")
        invstd = (var + eps).rsqrt()
        scale = weight.detach() * invstd
        offset = bias.detach() - mean * scale
        y = torch.empty_like(x, memory_format=torch.channels_last)
        library.bn_nhwc_apply_f32(
            x.data_ptr(),
            _pointer(residual),
            y.data_ptr(),
            rows,
            channels,
            scale.data_ptr(),
            offset.data_ptr(),
            int(relu),
            threads,
        )
        ctx.save_for_backward(x, y if relu else None, weight, mean, invstd)
        ctx.relu, ctx.has_residual = relu, residual is not None
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad, _grad_mean, _grad_var):  # type: ignore[override]
        library = batch_norm_library()
        x, y, weight, mean, invstd = ctx.saved_tensors
        channels = x.shape[1]
        rows = x.numel() // channels
        threads = _threads(x.numel())
        grad = _channels_last(grad)
        sum_g, sum_gx = x.new_empty(channels), x.new_empty(channels)
        # the residual's gradient is the gradient after ReLU: written in the first pass
        masked = torch.empty_like(x, memory_format=torch.channels_last) if ctx.has_residual and ctx.relu else None
        failed = library.bn_nhwc_backward_sums_f32(
            grad.data_ptr(), _pointer(y), x.data_ptr(), _pointer(masked), rows, channels, mean.data_ptr(),
            sum_g.data_ptr(), sum_gx.data_ptr(), threads,
        )  # fmt: skip
        if failed:
            raise MemoryError("batch_norm_act: out of memory for the batch-norm sums")
        grad_x = None
        if ctx.needs_input_grad[0]:
            # dx = w * invstd * (gp - sum_g / n - xhat * sum(gp * xhat) / n) = a * gp + b * x + c
            a = weight.detach() * invstd
            b = -a * invstd * invstd * sum_gx / rows
            c = -a * sum_g / rows - b * mean
            grad_x = torch.empty_like(x, memory_format=torch.channels_last)
            source, mask = (masked, None) if masked is not None else (grad, y)
            library.bn_nhwc_backward_input_f32(
                source.data_ptr(), _pointer(mask), x.data_ptr(), grad_x.data_ptr(), rows, channels,
                a.data_ptr(), b.data_ptr(), c.data_ptr(), threads,
            )  # fmt: skip
        grad_weight = sum_gx * invstd if ctx.needs_input_grad[1] else None
        grad_bias = sum_g if ctx.needs_input_grad[2] else None
        grad_residual = None
        if ctx.needs_input_grad[3]:
            grad_residual = masked if masked is not None else grad
        return grad_x, grad_weight, grad_bias, grad_residual, None, None


def uses_c_kernel(bn: nn.Module, x: torch.Tensor, residual: torch.Tensor | None = None) -> bool:
    """Whether :func:`batch_norm_act` takes the C kernels for this module and input.

    Example
    -------
    >>> bn = nn.BatchNorm2d(4).eval()
    >>> uses_c_kernel(bn, torch.randn(2, 4, 3, 5).contiguous(memory_format=torch.channels_last))
    False
    """
    return (
        isinstance(bn, nn.modules.batchnorm._BatchNorm)
        and not isinstance(bn, nn.SyncBatchNorm)  # its statistics span processes
        and bn.training
        and bn.track_running_stats
        and bn.running_mean is not None
        and bn.weight is not None
        and x.dim() == 4
        and x.dtype == torch.float32
        and x.device.type == "cpu"
        and x.numel() > x.shape[1]  # one value per channel: leave the error to PyTorch
        and x.is_contiguous(memory_format=torch.channels_last)
        and (residual is None or (residual.shape == x.shape and residual.dtype == x.dtype))
        and batch_norm_library() is not None
    )


def batch_norm_act(
    bn: nn.modules.batchnorm._BatchNorm,
    x: torch.Tensor,
    relu: bool = False,
    residual: torch.Tensor | None = None,
) -> torch.Tensor:
    """``relu(bn(x) + residual)`` (ReLU and residual optional), with ``bn``'s running
    statistics updated as ``bn(x)`` would update them.

    Arguments
    ---------
    bn : nn.BatchNorm2d
        The batch-norm module (its parameters and running statistics are used and updated).
    x : torch.Tensor
        (N, C, H, W) input.
    relu : bool
        Apply ReLU last.
    residual : torch.Tensor, optional
        Added to the normalised input before ReLU (same shape as ``x``).

    Returns
    -------
    torch.Tensor
        Same shape as ``x``; channels-last when ``x`` is.

    Example
    -------
    >>> bn = nn.BatchNorm2d(6)
    >>> x = torch.randn(4, 6, 5, 7).contiguous(memory_format=torch.channels_last)
    >>> shortcut = torch.randn(4, 6, 5, 7).contiguous(memory_format=torch.channels_last)
    >>> out = batch_norm_act(bn, x, relu=True, residual=shortcut)
    >>> reference = torch.relu(F.batch_norm(x, None, None, training=True) + shortcut)
    >>> out.shape, torch.allclose(out, reference, atol=1e-5), int(bn.num_batches_tracked)
    (torch.Size([4, 6, 5, 7]), True, 1)
    """
    if uses_c_kernel(bn, x, residual):
        if residual is not None:
            residual = _channels_last(residual)
        out, mean, var = _BatchNormActNHWC.apply(x, bn.weight, bn.bias, residual, bn.eps, bool(relu))
        update_running_statistics(bn, mean, var, x.numel() // x.shape[1])
        return out
    out = bn(x)
    if residual is not None:
        out += residual  # batch norm keeps its input, not its output: in place is safe
    return F.relu_(out) if relu else out
