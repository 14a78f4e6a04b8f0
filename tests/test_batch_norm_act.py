"""custom_modules.models.batch_norm_act (C kernels) against float64 PyTorch references, and
custom_modules.models.c_kernels' build, cache and refusal paths."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from custom_modules.models import c_kernels
from custom_modules.models.batch_norm_act import batch_norm_act, update_running_statistics, uses_c_kernel
from custom_modules.res2net import Res2Net50

CL = torch.channels_last
HAS_COMPILER = shutil.which(os.environ.get("CC") or "cc") is not None and sys.platform.startswith("linux")
needs_kernels = pytest.mark.skipif(
    not HAS_COMPILER or os.environ.get(c_kernels.KERNELS_ENV) == "0", reason="no C compiler here (or kernels off)"
)


def _cl(*shape, scale=2.0, shift=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale + shift).contiguous(memory_format=CL)


def _reference(x, weight, bias, residual, grad, relu, eps=1e-5):
    """relu(batch_norm(x) + residual) and its gradients, computed in float64 by PyTorch."""
    x64 = x.double().detach().requires_grad_()
    w64 = weight.double().detach().requires_grad_()
    b64 = bias.double().detach().requires_grad_()
    r64 = None if residual is None else residual.double().detach().requires_grad_()
    out = F.batch_norm(x64, None, None, w64, b64, training=True, eps=eps)
    if r64 is not None:
        out = out + r64
    if relu:
        out = torch.relu(out)
    out.backward(grad.double())
    return out.detach(), x64.grad, w64.grad, b64.grad, None if r64 is None else r64.grad


def _close(ours, reference, rtol=2e-5):
    """Equal up to float32 rounding, relative to the reference's largest magnitude."""
    scale = reference.abs().max().item() or 1.0
    return (ours.double() - reference).abs().max().item() <= rtol * scale


@needs_kernels
def test_the_kernels_build_and_load_on_this_machine():
    assert c_kernels.batch_norm_library() is not None, c_kernels.kernel_status()
    assert c_kernels.kernel_status().startswith("loaded: ")


@needs_kernels
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "shape",
    [
        (3, 1, 5, 7),  # one channel: 64 rows side by side
        (3, 6, 5, 7),  # 105 rows, 10 at a time: 5 rows left over
        (4, 13, 9, 11),  # 4 rows at a time
        (2, 52, 20, 26),
        (2, 64, 3, 5),  # one row at a time
        (2, 100, 4, 3),  # wider than 64 values
        (8, 6, 40, 51),  # 16320 rows: split over threads
    ],
)
@pytest.mark.parametrize("relu, with_residual", [(False, False), (True, False), (True, True), (False, True)])
def test_batch_norm_act_matches_float64_pytorch(shape, relu, with_residual, threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        channels = shape[1]
        bn = nn.BatchNorm2d(channels)
        with torch.no_grad():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
        x = _cl(*shape, seed=1).requires_grad_()
        residual = _cl(*shape, seed=2).requires_grad_() if with_residual else None
        # values away from ReLU's kink, so that rounding cannot flip which side a value is on
        grad = _cl(*shape, seed=3)
        assert uses_c_kernel(bn, x, residual)
        out = batch_norm_act(bn, x, relu=relu, residual=residual)
        out.backward(grad)
        expected, grad_x, grad_w, grad_b, grad_r = _reference(x, bn.weight, bn.bias, residual, grad, relu)
        assert out.is_contiguous(memory_format=CL) and x.grad.is_contiguous(memory_format=CL)
        kink = (expected.abs() < 1e-4) if relu else torch.zeros_like(expected, dtype=torch.bool)
        assert _close(out.masked_fill(kink, 0), expected.masked_fill(kink, 0))
        if not kink.any():
            assert _close(x.grad, grad_x)
            assert _close(bn.weight.grad, grad_w) and _close(bn.bias.grad, grad_b)
            if with_residual:
                assert _close(residual.grad, grad_r)
        # running statistics as nn.BatchNorm2d keeps them
        reference_bn = nn.BatchNorm2d(channels).double()
        reference_bn(x.detach().double())
        assert torch.allclose(bn.running_mean.double(), reference_bn.running_mean, atol=1e-6)
        assert torch.allclose(bn.running_var.double(), reference_bn.running_var, rtol=1e-5)
        assert int(bn.num_batches_tracked) == 1
    finally:
        torch.set_num_threads(previous)


@needs_kernels
def test_sums_are_closer_to_float64_than_pytorchs_float32_kernel():
    """Double accumulators: on a (32, 64, 80, 101) batch with an offset mean the input gradient
    is at least 10x closer to float64 than PyTorch's float32 batch norm's."""
    shape = (32, 64, 80, 101)
    bn = nn.BatchNorm2d(64)
    x = _cl(*shape, scale=1.0, shift=3.0, seed=4).requires_grad_()
    grad = _cl(*shape, seed=5)
    batch_norm_act(bn, x).backward(grad)
    ours = x.grad.clone()
    x.grad = None
    F.batch_norm(x, None, None, torch.ones(64), torch.zeros(64), training=True).backward(grad)
    native = x.grad
    _, reference, *_ = _reference(x, torch.ones(64), torch.zeros(64), None, grad, relu=False)
    scale = reference.abs().max()
    ours_error = ((ours.double() - reference).abs().max() / scale).item()
    native_error = ((native.double() - reference).abs().max() / scale).item()
    assert ours_error < 1e-6 and ours_error * 10 < native_error, (ours_error, native_error)


@needs_kernels
def test_same_thread_count_same_bits_and_nan_is_not_hidden():
    bn = nn.BatchNorm2d(6)
    x = _cl(4, 6, 30, 40, seed=6)
    first, second = batch_norm_act(bn, x, relu=True), batch_norm_act(bn, x, relu=True)
    assert torch.equal(first, second)
    x[0, 2, 0, 0] = float("nan")
    out = batch_norm_act(bn, x, relu=True)
    assert out[:, 2].isnan().all()  # the channel's statistics are NaN: ReLU must not zero them
    assert not out[:, [0, 1, 3, 4, 5]].isnan().any()


def test_other_cases_fall_back_to_pytorch_with_the_same_values():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 4, 3).contiguous(memory_format=CL)
    residual = torch.randn(2, 5, 4, 3)
    cases = {
        "evaluation": (nn.BatchNorm2d(5).eval(), x),
        "float64": (nn.BatchNorm2d(5).double(), x.double()),
        "NCHW memory": (nn.BatchNorm2d(5), x.contiguous()),
        "no running statistics": (nn.BatchNorm2d(5, track_running_stats=False), x),
        "no affine parameters": (nn.BatchNorm2d(5, affine=False), x),
        "SyncBatchNorm": (nn.SyncBatchNorm(5), x),
    }
    for name, (bn, inp) in cases.items():
        assert not uses_c_kernel(bn, inp), name
        twin = nn.BatchNorm2d(5, affine=bn.affine, track_running_stats=bn.track_running_stats).to(inp.dtype)
        twin.load_state_dict(bn.state_dict())
        twin.train(bn.training)
        out = batch_norm_act(bn, inp, relu=True, residual=residual.to(inp.dtype))
        assert torch.equal(out, torch.relu(twin(inp) + residual.to(inp.dtype))), name


def test_update_running_statistics_follows_batch_norm2d():
    for momentum in (0.1, None):
        bn, reference = nn.BatchNorm2d(3, momentum=momentum), nn.BatchNorm2d(3, momentum=momentum)
        for seed in range(3):
            x = _cl(4, 3, 5, 6, seed=seed)
            reference(x)
            update_running_statistics(bn, x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False), 4 * 5 * 6)
        assert torch.allclose(bn.running_mean, reference.running_mean, atol=1e-6)
        assert torch.allclose(bn.running_var, reference.running_var, atol=1e-6)
        assert int(bn.num_batches_tracked) == int(reference.num_batches_tracked) == 3


@needs_kernels
def test_res2net50_training_step_is_as_close_to_float64_with_the_kernels_as_without():
    """A whole training step (outputs, gradients, running statistics) in float32 with the
    kernels, and without them (PyTorch's), each against the same model in float64. Batch 6
    through 50 layers in training mode is ill-conditioned: float32 gradients are 1-7% (relative
    norm) from float64's (PyTorch's 2% and 7% on these batches, the kernels' 1% and 1.5%; the
    outputs 1e-5): the kernels must not be further off."""
    torch.manual_seed(0)
    fast = Res2Net50(input_size=40, m_channels=8, embedding_dim=32)
    plain = Res2Net50(input_size=40, m_channels=8, embedding_dim=32)
    exact = Res2Net50(input_size=40, m_channels=8, embedding_dim=32).double()
    plain.load_state_dict(fast.state_dict())
    exact.load_state_dict(fast.state_dict())
    x = torch.randn(6, 60, 40)

    def step(model, lengths):
        model.train().zero_grad()
        out = model(x.to(next(model.parameters()).dtype), lengths)
        out.pow(2).sum().backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        buffers = torch.cat([b.flatten().double() for b in model.buffers()])
        return out.detach().double(), grads.double(), buffers

    def error(ours, reference):
        return max(((a - b).norm() / b.norm()).item() for a, b in zip(ours, reference))

    for lengths in (torch.ones(6), torch.tensor([1.0, 0.7, 0.5, 1.0, 0.9, 1.0])):
        with_kernels = step(fast, lengths)
        with c_kernels.kernels_disabled():  # the PyTorch path
            assert not uses_c_kernel(fast.blocks[0].bn1, torch.zeros(2, 4, 3, 3).contiguous(memory_format=CL))
            without = step(plain, lengths)
        assert uses_c_kernel(fast.blocks[0].bn1, torch.zeros(2, 4, 3, 3).contiguous(memory_format=CL))
        reference = step(exact, lengths)
        assert error(with_kernels, reference) < 0.05
        assert error(with_kernels, reference) <= 1.5 * error(without, reference), (
            error(with_kernels, reference),
            error(without, reference),
        )


def _load_in_subprocess(tmp_path, **env):
    """Load the kernels in a fresh process with this environment; returns (status, warnings)."""
    code = textwrap.dedent(
        """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from custom_modules.models import c_kernels
            library = c_kernels.batch_norm_library()
        print(library is None)
        print(c_kernels.kernel_status())
        print(" | ".join(str(w.message) for w in caught))
        """
    )
    environment = {**os.environ, c_kernels.CACHE_ENV: str(tmp_path / "cache"), **env}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_no_compiler_gives_a_warning_that_says_why_and_training_still_runs(tmp_path):
    none, status, warned = _load_in_subprocess(tmp_path, CC="no-such-cc")
    assert none == "True"
    assert status.startswith("unavailable: no C compiler: 'no-such-cc' not found on PATH")
    assert "C batch-norm kernels not used" in warned and "RES2NET_SV_C_KERNELS=0" in warned
    none, status, warned = _load_in_subprocess(tmp_path, **{c_kernels.KERNELS_ENV: "0"})
    assert (none, status, warned) == ("True", "off: RES2NET_SV_C_KERNELS=0", "")


@needs_kernels
def test_a_failing_compile_names_the_source_and_leaves_no_partial_file(tmp_path):
    fake = tmp_path / "fake-cc"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = --version ]; then echo fake 1.0; exit 0; fi\necho "boom: bad flag" >&2\nexit 3\n'
    )
    fake.chmod(0o755)
    none, status, _ = _load_in_subprocess(tmp_path, CC=str(fake))
    assert none == "True"
    assert "failed on" in status and "batch_norm_nhwc.c (exit 3): boom: bad flag" in status
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


@needs_kernels
def test_the_library_is_built_once_into_the_cache(tmp_path):
    none, status, _ = _load_in_subprocess(tmp_path)
    assert none == "False" and status.startswith("loaded: ")
    built = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert [p.name for p in built] == ["libbatch_norm_nhwc.so"]
    stamp = built[0].stat().st_mtime_ns
    assert _load_in_subprocess(tmp_path)[1] == status  # the same file, not rebuilt
    assert built[0].stat().st_mtime_ns == stamp
