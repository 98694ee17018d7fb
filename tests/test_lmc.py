import numpy as np
import torch

from core.wiseft.interpolate import interpolate
from core.lmc.plane import average_weights, plane, point


def state(seed):
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(5, 4, generator=g), "b": torch.randn(4, generator=g), "n": torch.tensor(seed)}


def test_average_of_two_is_the_midpoint_and_buffers_are_copied():
    a, b = state(0), state(1)
    avg = average_weights([a, b])
    mid = interpolate(a, b, 0.5)
    for k in ("w", "b"):
        torch.testing.assert_close(avg[k], mid[k])
    assert avg["n"] == a["n"]


def test_plane_recovers_the_three_points():
    a, b, c = state(0), state(1), state(2)
    u, v, (xc, yc) = plane(a, b, c)
    flat = lambda s: torch.cat([s[k].flatten() for k in ("w", "b")])
    assert abs(float(flat(u) @ flat(v))) < 1e-4 * float(flat(u) @ flat(u))  # orthogonal
    np.testing.assert_allclose(float(flat(v).norm()), float(flat(u).norm()), rtol=1e-5)
    for (x, y), target in (((0, 0), a), ((1, 0), b), ((xc, yc), c)):
        p = point(a, u, v, x, y)
        for k in ("w", "b"):
            torch.testing.assert_close(p[k], target[k], rtol=1e-4, atol=1e-4)
