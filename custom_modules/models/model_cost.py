"""Size and compute of an embedding model: parameters and multiply-accumulates per second.

MACs are counted exactly from layer shapes with forward hooks: every Conv1d/Conv2d/Linear
output element costs ``in_channels / groups x kernel size`` MACs. Batch norm, activations
and pooling are not counted (a few percent). The input is 10 s at 100 frames per second
(SpeechBrain's 10 ms hop), and the count is divided by 10.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

__all__ = ["count_parameters", "count_macs", "macs_per_second"]

_COUNTED = (nn.Conv1d, nn.Conv2d, nn.Linear)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters.

    Example
    -------
    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, frames: int, features: int) -> int:
    """MACs of one forward pass of a (1, frames, features) input with full relative length.

    Example
    -------
    >>> net = nn.Sequential(nn.Linear(4, 3))
    >>> class Wrap(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.net = net
    ...     def forward(self, x, lengths):
    ...         return self.net(x)
    >>> count_macs(Wrap(), frames=10, features=4)  # 10 frames x 3 outputs x 4 inputs
    120
    """
    total = 0

    def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += output.numel() * module.in_features
        else:
            total += output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _COUNTED)]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.randn(1, frames, features), torch.ones(1))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total


def macs_per_second(model: nn.Module, features: int, frames_per_second: int = 100) -> float:
    """MACs per second of audio, measured on 10 s of input."""
    return count_macs(model, 10 * frames_per_second, features) / 10.0
