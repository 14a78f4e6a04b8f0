"""Learning-rate schedule as a pure function of training progress (resume-safe).

Linear warm-up followed by an exponential decay to a final rate, as WeSpeaker trains its
ResNet/Res2Net speaker models. The rate depends only on the fractional epoch, so a run
resumed from a checkpoint continues on exactly the same curve with no scheduler state.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math

import torch

__all__ = ["WarmupExponentialLR"]


class WarmupExponentialLR:
    """lr(p) = warm-up(p) * lr * (final_lr / lr) ** (p / total_epochs), p in epochs from 0.

    Arguments
    ---------
    lr : float
        Peak (initial, after warm-up) learning rate.
    final_lr : float
        Rate reached at ``total_epochs``.
    total_epochs : float
        Length of the decay.
    warmup_epochs : float
        Linear warm-up from 0 over this many epochs (0: none).

    Example
    -------
    >>> schedule = WarmupExponentialLR(lr=1e-3, final_lr=1e-5, total_epochs=10, warmup_epochs=1)
    >>> [f"{schedule(p):.1e}" for p in (0.5, 5, 10)]
    ['4.0e-04', '1.0e-04', '1.0e-05']
    >>> model = torch.nn.Linear(2, 2)
    >>> opt = torch.optim.Adam(model.parameters(), lr=1.0)
    >>> f"{schedule.apply(opt, 5):.1e}", f"{opt.param_groups[0]['lr']:.1e}"
    ('1.0e-04', '1.0e-04')
    """

    def __init__(self, lr: float, final_lr: float, total_epochs: float, warmup_epochs: float = 0.0) -> None:
        if lr <= 0 or final_lr <= 0:
            raise ValueError(f"learning rates must be positive, got lr={lr}, final_lr={final_lr}")
        if total_epochs <= 0:
            raise ValueError(f"total_epochs must be positive, got {total_epochs}")
        self.lr, self.final_lr = float(lr), float(final_lr)
        self.total_epochs, self.warmup_epochs = float(total_epochs), float(warmup_epochs)

    def __call__(self, progress: float) -> float:
        decay = math.exp(min(progress, self.total_epochs) / self.total_epochs * math.log(self.final_lr / self.lr))
        warmup = min(1.0, progress / self.warmup_epochs) if self.warmup_epochs > 0 else 1.0
        return self.lr * decay * warmup

    def apply(self, optimizer: torch.optim.Optimizer, progress: float) -> float:
        """Set every parameter group's rate for ``progress`` epochs and return it."""
        rate = self(progress)
        for group in optimizer.param_groups:
            group["lr"] = rate
        return rate
