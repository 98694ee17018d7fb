"""core.lmc.plane: weight averages and the plane through three weight sets on random tensors; BatchNorm
recalibration and loss along a path (the LMC lab's tools, issue 15) on tiny real models."""

import numpy as np
import torch
from torch import nn

from core.lmc import plane
from core.wiseft.interpolate import interpolate


def state(seed):
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(5, 4, generator=g), "b": torch.randn(4, generator=g), "n": torch.tensor(seed)}


def test_average_of_two_is_the_midpoint_and_buffers_are_copied():
    a, b = state(0), state(1)
    avg = plane.average_weights([a, b])
    mid = interpolate(a, b, 0.5)
    for k in ("w", "b"):
        torch.testing.assert_close(avg[k], mid[k])
    assert avg["n"] == a["n"]


def test_plane_recovers_the_three_points():
    a, b, c = state(0), state(1), state(2)
    u, v, (xc, yc) = plane.plane(a, b, c)
    flat = lambda s: torch.cat([s[k].flatten() for k in ("w", "b")])
    assert abs(float(flat(u) @ flat(v))) < 1e-4 * float(flat(u) @ flat(u))  # orthogonal
    np.testing.assert_allclose(float(flat(v).norm()), float(flat(u).norm()), rtol=1e-5)
    for (x, y), target in (((0, 0), a), ((1, 0), b), ((xc, yc), c)):
        p = plane.point(a, u, v, x, y)
        for k in ("w", "b"):
            torch.testing.assert_close(p[k], target[k], rtol=1e-4, atol=1e-4)


def tiny_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    )


def test_recalibrated_statistics_are_the_exact_statistics_of_the_images():
    net = tiny_net(0).eval()
    images = torch.randn(40, 3, 8, 8)  # (N, 3, H, W)
    plane.recalibrate_batchnorm(net, images, batch_size=10)  # four equal batches: cumulative mean is exact
    pre = net[0](images)  # (N, 4, 6, 6) the BatchNorm layer's input
    bn = net[1]
    assert torch.allclose(bn.running_mean, pre.mean((0, 2, 3)), atol=1e-5)
    per_batch_var = torch.stack([pre[i : i + 10].var((0, 2, 3), unbiased=True) for i in range(0, 40, 10)]).mean(0)
    assert torch.allclose(bn.running_var, per_batch_var, atol=1e-5)
    assert bn.momentum == 0.1 and not net.training and not bn.training


def test_path_loss_interpolates_statistics_unless_given_calibration_images():
    a, b = tiny_net(0).state_dict(), tiny_net(1).state_dict()
    b["1.running_mean"] += 1.0
    net = tiny_net(2)
    images, labels = torch.randn(30, 3, 8, 8), np.arange(30) % 3
    loss, acc = plane.path_loss(net, a, b, [0.0, 0.5], images, labels)
    ref_loss, ref_acc = plane.evaluate_states(net, [a, interpolate(a, b, 0.5)], images, labels)
    assert np.allclose(loss, ref_loss) and np.allclose(acc, ref_acc)
    recal_loss, _ = plane.path_loss(net, a, b, [0.5], images, labels, calibration=images)
    plane.recalibrate_batchnorm(net, images)
    assert np.isclose(recal_loss[0], plane.evaluate_states(net, [net.state_dict()], images, labels)[0][0])
    assert torch.allclose(net[1].running_mean, net[0](images).mean((0, 2, 3)), atol=1e-5)
