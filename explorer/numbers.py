"""How the explorer writes a share as a percentage: one rounding for the server's tables and sentences and
for the browser's tiles (live.js's `tenths` and `pct` do the same arithmetic on the same doubles), so a
number never shows two ways (77.25 was 77.3 on a tile and 77.2 in a table)."""

from __future__ import annotations

import math


def tenths(share: float) -> float:
    """A share in [0, 1] as a percentage rounded to 0.1, half up: tenths(0.7725) == 77.3."""
    return math.floor(share * 1000 + 0.5 + 1e-9) / 10


def pct(share: float | None) -> str:
    """'77.3%', or 'n/a' for a blank (None or NaN)."""
    if share is None or not math.isfinite(share):
        return "n/a"
    return f"{tenths(share):.1f}%"
