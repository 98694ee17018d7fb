"""core.wiseft.interpolate: the paper's eq. 1 against hand computation, exact endpoints, buffers copied,
and the fused in-place interpolate_ bit for bit equal to the reference interpolate()."""

import pytest
import torch

from core.wiseft.interpolate import IncompatibleWeights, interpolate, interpolate_


def weights(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "w": torch.randn(4, 3, generator=g),
        "b": torch.randn(3, generator=g).double(),
        "steps": torch.tensor(seed + 7),  # an integer buffer (e.g. num_batches_tracked)
        "mask": torch.tensor([True, False]),
    }


def test_endpoints_are_exact():
    t0, t1 = weights(0), weights(1)
    for alpha, ref in ((0.0, t0), (1.0, t1)):
        out = interpolate(t0, t1, alpha)
        for k in ("w", "b"):
            assert torch.equal(out[k], ref[k])


def test_midpoint_and_extrapolation_match_hand_computation():
    t0, t1 = weights(0), weights(1)
    for alpha in (0.25, 0.5, 1.5, -0.5):
        out = interpolate(t0, t1, alpha)
        for k in ("w", "b"):
            expected = (1 - alpha) * t0[k] + alpha * t1[k]
            torch.testing.assert_close(out[k], expected, rtol=0, atol=1e-6)  # lerp vs. hand: rounding only
            assert out[k].dtype == t0[k].dtype


def test_integer_and_bool_buffers_are_copied_not_interpolated():
    t0, t1 = weights(0), weights(1)
    out = interpolate(t0, t1, 0.5)
    assert torch.equal(out["steps"], t0["steps"]) and out["steps"].dtype == torch.int64
    assert torch.equal(out["mask"], t0["mask"])


def test_inputs_are_not_modified_and_inplace_matches_pure():
    t0, t1 = weights(0), weights(1)
    before = {k: v.clone() for k, v in t0.items()}
    pure = interpolate(t0, t1, 0.3)
    target = {k: torch.zeros_like(v) for k, v in t0.items()}
    interpolate_(target, t0, t1, 0.3)
    for k in t0:
        assert torch.equal(t0[k], before[k])
        assert torch.equal(target[k], pure[k])


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda t: t.pop("b"), "keys only in theta_0: b"),
        (lambda t: t.update(extra=torch.zeros(1)), "keys only in theta_1: extra"),
        (lambda t: t.update(w=torch.zeros(5, 3)), "w: shape (4, 3) vs (5, 3)"),
        (lambda t: t.update(w=torch.zeros(4, 3, dtype=torch.float16)), "w: dtype torch.float32 vs torch.float16"),
    ],
)
def test_mismatches_name_the_offending_keys(change, needle):
    t0, t1 = weights(0), weights(1)
    change(t1)
    with pytest.raises(IncompatibleWeights, match=needle.replace("(", r"\(").replace(")", r"\)")):
        interpolate(t0, t1, 0.5)


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
