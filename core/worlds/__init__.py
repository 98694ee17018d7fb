"""Procedural worlds: captioned image generators with built-in distribution shifts.

`shapes` is the world the project ships; `pretrain` trains its small CLIP-style zero-shot model.
"""

from core.worlds import shapes

WORLDS = {"shapes": shapes}


def list_worlds() -> list[str]:
    """Names of the registered worlds."""
    return sorted(WORLDS)
