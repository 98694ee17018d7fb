"""interpolate_ (fused foreach kernels) writes exactly what the reference interpolate() computes."""

import pytest
import torch

from core.wiseft.interpolate import interpolate, interpolate_


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, -0.5])
def test_in_place_fused_equals_reference_bit_for_bit(alpha):
    g = torch.Generator().manual_seed(0)
    shapes = {"a.weight": (64, 32), "a.bias": (64,), "b.weight": (7, 64)}
    theta_0 = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
    theta_1 = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
    theta_0["steps"], theta_1["steps"] = torch.tensor(3), torch.tensor(9)  # an integer buffer
    target = {k: torch.zeros_like(v) for k, v in theta_0.items()}
    interpolate_(target, theta_0, theta_1, alpha)
    expected = interpolate(theta_0, theta_1, alpha)
    for k in expected:
        assert torch.equal(target[k], expected[k]), k
    assert target["steps"].item() == 3
    if alpha in (0.0, 1.0):
        src = theta_0 if alpha == 0.0 else theta_1
        assert all(torch.equal(target[k], src[k]) for k in shapes)
