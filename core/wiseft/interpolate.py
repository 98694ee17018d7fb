"""Weight-space interpolation: theta_alpha = (1 - alpha) * theta_0 + alpha * theta_1 (WiSE-FT, eq. 1).

theta_0 is the zero-shot model, theta_1 the fine-tuned one. Any real alpha is allowed: alpha > 1
extrapolates past the fine-tuned model, alpha < 0 past the zero-shot one. Floating-point tensors are
interpolated; integer and boolean buffers (e.g. BatchNorm's num_batches_tracked, attention masks)
are copied from theta_0, since a fractional step count or mask means nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

StateDict = Mapping[str, torch.Tensor]


class IncompatibleWeights(ValueError):
    """theta_0 and theta_1 do not describe the same architecture."""


def check_compatible(theta_0: StateDict, theta_1: StateDict) -> None:
    """Raise IncompatibleWeights naming every key, shape or dtype that differs."""
    only_0 = sorted(set(theta_0) - set(theta_1))
    only_1 = sorted(set(theta_1) - set(theta_0))
    problems = []
    if only_0:
        problems.append(f"keys only in theta_0: {_head(only_0)}")
    if only_1:
        problems.append(f"keys only in theta_1: {_head(only_1)}")
    for key in sorted(set(theta_0) & set(theta_1)):
        a, b = theta_0[key], theta_1[key]
        if a.shape != b.shape:
            problems.append(f"{key}: shape {tuple(a.shape)} vs {tuple(b.shape)}")
        elif a.dtype != b.dtype:
            problems.append(f"{key}: dtype {a.dtype} vs {b.dtype}")
    if problems:
        raise IncompatibleWeights(
            "cannot interpolate: the two weight sets come from different architectures "
            "(fine-tune theta_1 from theta_0 with the same model config):\n  " + "\n  ".join(problems[:20])
        )


def _head(keys: list[str], n: int = 5) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def interpolate(theta_0: StateDict, theta_1: StateDict, alpha: float) -> dict[str, torch.Tensor]:
    """Return a new state dict (1 - alpha) * theta_0 + alpha * theta_1; inputs are not modified.

    alpha = 0 returns copies of theta_0 and alpha = 1 copies of theta_1, bit for bit.
    """
    check_compatible(theta_0, theta_1)
    alpha = float(alpha)
    out = {}
    for key, t0 in theta_0.items():
        t1 = theta_1[key]
        if not t0.is_floating_point():
            out[key] = t0.clone()
        elif alpha == 0.0:
            out[key] = t0.clone()
        elif alpha == 1.0:
            out[key] = t1.clone()
        else:
            out[key] = torch.lerp(t0, t1, alpha)
    return out


@torch.no_grad()
def interpolate_(target: StateDict, theta_0: StateDict, theta_1: StateDict, alpha: float) -> None:
    """In-place variant for sweeps: write theta_alpha into `target` (e.g. a live model's params).

    `target` tensors may live on another device or dtype; no new model is built. Compatibility of
    theta_0 and theta_1 is the caller's to check once (check_compatible) before a sweep.

    Float tensors that share device and dtype with theta_0 and theta_1 are written with two fused
    multi-tensor kernels (torch._foreach_copy_ of theta_0, then torch._foreach_lerp_ towards theta_1:
    the same arithmetic as torch.lerp, bit for bit) instead of one lerp and one copy launch per
    tensor; alpha 0 and 1 copy theta_0 and theta_1 exactly, integer buffers are copied from theta_0.
    """
    alpha = float(alpha)
    fused, rest = [], []
    for key, dst in target.items():
        t0, t1 = theta_0[key], theta_1[key]
        same = dst.dtype == t0.dtype == t1.dtype and dst.device == t0.device == t1.device
        (fused if same and t0.is_floating_point() and alpha not in (0.0, 1.0) else rest).append(key)
    for key in rest:
        dst, t0, t1 = target[key], theta_0[key], theta_1[key]
        if not t0.is_floating_point() or alpha == 0.0:
            dst.copy_(t0)
        elif alpha == 1.0:
            dst.copy_(t1)
        else:
            dst.copy_(torch.lerp(t0, t1, alpha))
    if fused:
        dsts = [target[k] for k in fused]
        torch._foreach_copy_(dsts, [theta_0[k] for k in fused])
        torch._foreach_lerp_(dsts, [theta_1[k] for k in fused], alpha)


def differing_keys(theta_0: StateDict, theta_1: StateDict) -> list[str]:
    """Keys whose tensors differ between the two weight sets (for detecting head-only fine-tunes)."""
    return [k for k in theta_0 if not torch.equal(theta_0[k], theta_1[k])]
