"""Percentile intervals and report entries of the speaker-level bootstrap.

``{value, low, high}`` summaries of resampled values (non-finite samples, from resamples
with no target or no non-target weight, are left out and counted in a warning), and whether
a difference's interval excludes 0. Pure NumPy.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np


def _interval(samples: np.ndarray, confidence: float) -> Tuple[Optional[float], Optional[float]]:
    ok = samples[np.isfinite(samples)]
    if ok.size == 0:
        return None, None
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(ok, [tail, 100.0 - tail])
    return float(low), float(high)


def _summary(value: float, samples: np.ndarray, confidence: float) -> Dict[str, Optional[float]]:
    low, high = _interval(samples, confidence)
    return {"value": float(value), "low": low, "high": high}


def _degenerate_warning(samples: np.ndarray, resamples: int) -> Optional[str]:
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if not bad:
        return None
    return (
        f"{bad} of {resamples} resamples drew no speaker with target trials or none with "
        f"non-target trials and were left out of the interval"
    )


def _significant(summary: Dict[str, Optional[float]]) -> bool:
    low, high = summary["low"], summary["high"]
    if low is None or high is None:
        return False
    return not (low <= 0.0 <= high)
