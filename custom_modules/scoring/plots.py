"""DET curves and score histograms (matplotlib, no display needed).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

from custom_modules.scoring.metrics import det_curve, equal_error_rate

__all__ = ["plot_det", "plot_score_histogram"]

TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8]


def _probit(p: np.ndarray) -> np.ndarray:
    from scipy.stats import norm

    return norm.ppf(np.clip(p, 1e-5, 1 - 1e-5))


def plot_det(systems: Dict[str, Tuple[Sequence[float], Sequence[float]]], path: str, title: str = "DET") -> str:
    """Plot one DET curve (normal-deviate axes) per system ``name -> (target, nontarget)``
    into ``path`` (PNG); the legend gives each system's EER."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for name, (target, nontarget) in systems.items():
        p_miss, p_fa, _ = det_curve(target, nontarget)
        eer = equal_error_rate(target, nontarget).eer
        ax.plot(_probit(p_fa), _probit(p_miss), label=f"{name} (EER {100 * eer:.2f}%)")
    ticks = _probit(np.array(TICKS))
    labels = [f"{100 * t:g}" for t in TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylim(ticks[0], ticks[-1])
    ax.plot([ticks[0], ticks[-1]], [ticks[0], ticks[-1]], color="grey", lw=0.5, ls=":")
    ax.set_xlabel("false-alarm rate (%)")
    ax.set_ylabel("miss rate (%)")
    ax.set_title(title)
    ax.grid(True, lw=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_score_histogram(
    target: Sequence[float],
    nontarget: Sequence[float],
    path: str,
    threshold: float | None = None,
    title: str = "scores",
) -> str:
    """Histogram of target and non-target scores (densities), with an optional threshold line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target, nontarget = np.asarray(target, float), np.asarray(nontarget, float)
    bins = np.linspace(min(target.min(), nontarget.min()), max(target.max(), nontarget.max()), 60)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(nontarget, bins=bins, density=True, alpha=0.6, label=f"non-target ({len(nontarget)})")
    ax.hist(target, bins=bins, density=True, alpha=0.6, label=f"target ({len(target)})")
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(threshold, color="black", lw=1, ls="--", label="EER threshold")
    ax.set_xlabel("score")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
