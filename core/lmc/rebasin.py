"""Permutation alignment of two networks ("Git Re-Basin", Ainsworth et al., 2022).

Hidden units of a network can be permuted without changing the function it computes; two networks
trained from different random inits may sit in one low-loss basin once B's units are permuted to
line up with A's. This module holds

- `world_spec(state, num_heads)`: the permutation symmetries of the world's ImageClassifier (an
  open_clip ModifiedResNet image tower with attention pooling, plus the linear head);
- `apply_permutation(state, perms)`: B's state dict with its units reordered (BatchNorm running
  statistics included), the same function up to float rounding;
- `weight_matching(theta_a, theta_b, spec, iters, seed)`: coordinate descent over the permutations,
  each step a linear assignment maximising sum <W_a, P W_b> (Ainsworth et al., Alg. 1);
- `activation_matching(model, theta_a, theta_b, images, spec)`: each permutation from the correlation
  of the two networks' activations at that point (Ainsworth et al., Sec. 3.1; Li et al., 2015).

Symmetries of the tower (`world_spec`): each stem conv's output channels; in each Bottleneck the
outputs of conv1 and conv2; the residual stream, which gets a new permutation wherever a block has a
downsample branch (conv3 and downsample write it together; blocks without one share it); in the
attention pool, the query/key dimensions (q and k permuted alike) and the value dimensions (with
c_proj's inputs), each within its head, and the heads as a whole (q, k, v together); the pooled
feature dimensions (c_proj's outputs, head's inputs: L2 normalisation commutes with a permutation).
The positional embedding follows the residual stream; the head's outputs (the classes) stay put.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

Perms = dict[str, torch.Tensor]  # permutation name -> (n,) int64: new unit i is B's old unit perm[i]
BN_KEYS = ("weight", "bias", "running_mean", "running_var")
ENC = "image_encoder."


@dataclass(frozen=True)
class PermutationSpec:
    """Which tensor axes each permutation acts on.

    sizes: permutation name -> number of units.
    axes: state-dict key -> one entry per tensor axis: the permutation acting on it, or None.
    heads: (qk permutation, v permutation, number of heads) of an attention layer: both stay within
        heads and move heads alike (solvers respect it; `apply_permutation` needs no special case).
    """

    sizes: dict[str, int]
    axes: dict[str, tuple[str | None, ...]]
    heads: tuple[str, str, int] | None = None
    acts: dict[str, str] = field(default_factory=dict)  # permutation -> module whose output it permutes

    def keys_of(self, perm: str) -> list[tuple[str, int]]:
        """(key, axis) pairs permuted by `perm`."""
        return [(k, ax) for k, names in self.axes.items() for ax, p in enumerate(names) if p == perm]


def world_spec(state: Mapping[str, torch.Tensor], num_heads: int) -> PermutationSpec:
    """The permutation spec of an ImageClassifier over open_clip's ModifiedResNet (see module doc).

    Raises ValueError naming the floating-point keys it does not cover (another architecture)."""
    axes: dict[str, tuple[str | None, ...]] = {}
    acts: dict[str, str] = {}

    def conv_bn(conv: str, bn: str, p_out: str, p_in: str | None, act: str | None = None) -> None:
        axes[f"{conv}.weight"] = (p_out, p_in, None, None)
        for s in BN_KEYS:
            axes[f"{bn}.{s}"] = (p_out,)
        acts.setdefault(p_out, act or bn)

    e = ENC
    conv_bn(f"{e}conv1", f"{e}bn1", "stem1", None, f"{e}act1")
    conv_bn(f"{e}conv2", f"{e}bn2", "stem2", "stem1", f"{e}act2")
    conv_bn(f"{e}conv3", f"{e}bn3", "stem3", "stem2", f"{e}act3")
    res = "stem3"
    for layer in range(1, 5):
        blocks = sorted({int(k.split(".")[2]) for k in state if k.startswith(f"{e}layer{layer}.")})
        for i in blocks:
            b = f"{e}layer{layer}.{i}"
            conv_bn(f"{b}.conv1", f"{b}.bn1", f"{b[len(e) :]}.a", res, f"{b}.act1")
            conv_bn(f"{b}.conv2", f"{b}.bn2", f"{b[len(e) :]}.b", f"{b[len(e) :]}.a", f"{b}.act2")
            if f"{b}.downsample.0.weight" in state:
                new = f"{b[len(e) :]}.res"
                conv_bn(f"{b}.downsample.0", f"{b}.downsample.1", new, res, b)  # the block's output
                res = new
            conv_bn(f"{b}.conv3", f"{b}.bn3", res, f"{b[len(e) :]}.b", b)
    a = f"{e}attnpool"
    axes[f"{a}.positional_embedding"] = (None, res)
    for proj, p in (("q_proj", "attn.qk"), ("k_proj", "attn.qk"), ("v_proj", "attn.v")):
        axes[f"{a}.{proj}.weight"] = (p, res)
        axes[f"{a}.{proj}.bias"] = (p,)
    axes[f"{a}.c_proj.weight"] = ("feat", "attn.v")
    axes[f"{a}.c_proj.bias"] = ("feat",)
    axes["head.weight"] = (None, "feat")
    axes["head.bias"] = (None,)
    uncovered = [k for k, t in state.items() if t.is_floating_point() and k not in axes]
    missing = [k for k in axes if k not in state]
    if uncovered or missing:
        raise ValueError(
            f"world_spec covers an ImageClassifier over open_clip's ModifiedResNet; this state dict "
            f"has keys it does not know {uncovered[:5]} or lacks {missing[:5]}"
        )
    sizes = {}
    for key, names in axes.items():
        for ax, p in enumerate(names):
            if p is not None:
                sizes[p] = int(state[key].shape[ax])
    return PermutationSpec(sizes, axes, ("attn.qk", "attn.v", num_heads), acts)


def apply_permutation(
    state: Mapping[str, torch.Tensor],
    perms: Perms,
    spec: PermutationSpec,
    except_key: str | None = None,
    except_axis: int | None = None,
) -> dict[str, torch.Tensor]:
    """A new state dict with every axis named in `spec` reordered by its permutation (unit i of the
    result is unit perms[p][i] of `state`); other tensors copied. `except_axis` of `except_key` is
    left as is (weight matching's partial products)."""
    out = {}
    for key, t in state.items():
        for ax, p in enumerate(spec.axes.get(key, ())):
            if p is not None and not (key == except_key and ax == except_axis):
                t = t.index_select(ax, perms[p])
        out[key] = t.clone() if t is state[key] else t
    return out


def identity_perms(spec: PermutationSpec) -> Perms:
    return {p: torch.arange(n) for p, n in spec.sizes.items()}


def random_perms(spec: PermutationSpec, seed: int) -> Perms:
    """Random permutations of every symmetry in `spec`: attention units stay within their heads and the
    heads move alike for q/k and v (what a valid reordering of the network may do)."""
    g = torch.Generator().manual_seed(seed)
    perms = {p: torch.randperm(n, generator=g) for p, n in spec.sizes.items()}
    if spec.heads is not None:
        qk, v, heads = spec.heads
        head_map = torch.randperm(heads, generator=g)
        for p in (qk, v):
            d = spec.sizes[p] // heads
            perms[p] = torch.cat([head_map[h] * d + torch.randperm(d, generator=g) for h in range(heads)])
    return perms


def invert(perms: Perms) -> Perms:
    """The inverse permutations: apply_permutation(apply_permutation(s, p), invert(p)) == s."""
    return {k: torch.argsort(v) for k, v in perms.items()}


# ----------------------------------------------------------------------------- solvers


def assign(cost: np.ndarray) -> np.ndarray:
    """The permutation maximising sum_i cost[i, perm[i]] (Hungarian algorithm)."""
    _, cols = linear_sum_assignment(cost, maximize=True)
    return cols


def assign_heads(c_qk: np.ndarray, c_v: np.ndarray, num_heads: int) -> tuple[np.ndarray, np.ndarray]:
    """qk and v permutations that map heads to heads (both alike) and units within heads, maximising
    the summed similarity: an assignment inside every (head of A, head of B) block, then one over heads."""
    d = c_qk.shape[0] // num_heads
    inner = {}
    score = np.zeros((num_heads, num_heads))
    for g in range(num_heads):
        for h in range(num_heads):
            blocks = [c[g * d : (g + 1) * d, h * d : (h + 1) * d] for c in (c_qk, c_v)]  # (d, d) each
            inner[g, h] = [assign(blk) for blk in blocks]
            score[g, h] = sum(blk[np.arange(d), cols].sum() for blk, cols in zip(blocks, inner[g, h]))
    head_map = assign(score)
    perms = [np.concatenate([head_map[g] * d + inner[g, head_map[g]][j] for g in range(num_heads)]) for j in (0, 1)]
    return perms[0], perms[1]


def _similarity(
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    perms: Perms,
    spec: PermutationSpec,
    perm: str,
) -> np.ndarray:
    """sum over the tensors that `perm` acts on of <A's unit i, B's unit j> with B's other axes permuted: (n, n)."""
    n = spec.sizes[perm]
    sim = torch.zeros(n, n, dtype=torch.float64)
    for key, ax in spec.keys_of(perm):
        w_b = apply_permutation({key: theta_b[key]}, perms, spec, except_key=key, except_axis=ax)[key]
        w_a = theta_a[key].double().movedim(ax, 0).reshape(n, -1)  # (n, rest)
        sim += w_a @ w_b.double().movedim(ax, 0).reshape(n, -1).T  # (n, n)
    return sim.numpy()


def weight_matching(
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    spec: PermutationSpec,
    iters: int = 100,
    seed: int = 0,
    init: Perms | None = None,
) -> tuple[Perms, dict]:
    """Permutations of B that maximise sum_k <theta_a[k], P theta_b[k]> (Ainsworth et al., Alg. 1).

    Coordinate descent in a random order (`seed`) per pass, at most `iters` passes, stopping after a
    pass that changes no permutation; each step solves one linear assignment with the others fixed
    (the attention heads: `assign_heads`). Every float tensor counts, BatchNorm running statistics too.

    Returns the permutations and {"passes", "objective"} (the final sum of inner products).
    """
    rng = np.random.default_rng(seed)
    perms = dict(init) if init is not None else identity_perms(spec)
    qk, v, heads = spec.heads or (None, None, 0)
    units = [p for p in spec.sizes if p not in (qk, v)] + ([qk] if spec.heads else [])
    passes = 0
    for passes in range(1, iters + 1):  # noqa: B007  (the count is returned after the loop)
        changed = False
        for i in rng.permutation(len(units)):
            p = units[i]
            if p == qk:
                new = assign_heads(
                    _similarity(theta_a, theta_b, perms, spec, qk), _similarity(theta_a, theta_b, perms, spec, v), heads
                )
                updates = {qk: new[0], v: new[1]}
            else:
                updates = {p: assign(_similarity(theta_a, theta_b, perms, spec, p))}
            for name, cols in updates.items():
                cols = torch.as_tensor(cols, dtype=torch.int64)
                changed |= not torch.equal(cols, perms[name])
                perms[name] = cols
        if not changed:
            break
    return perms, {"passes": passes, "objective": objective(theta_a, theta_b, perms, spec)}


def objective(
    theta_a: Mapping[str, torch.Tensor], theta_b: Mapping[str, torch.Tensor], perms: Perms, spec: PermutationSpec
) -> float:
    """sum_k <theta_a[k], (P theta_b)[k]> over the tensors the spec permutes."""
    b = apply_permutation({k: theta_b[k] for k in spec.axes}, perms, spec)
    return float(sum((theta_a[k].double() * b[k].double()).sum() for k in spec.axes))


# ----------------------------------------------------------------------------- activation matching


class _Correlation:
    """Running sums for the Pearson correlation of A's units with B's units over many observations."""

    def __init__(self):
        self.n, self.sums = 0, None

    def add(self, a: torch.Tensor, b: torch.Tensor) -> None:
        a, b = a.double(), b.double()  # (obs, n) each
        parts = [a.sum(0), b.sum(0), (a * a).sum(0), (b * b).sum(0), a.T @ b]
        self.sums = parts if self.sums is None else [s + p for s, p in zip(self.sums, parts)]
        self.n += a.shape[0]

    def matrix(self) -> np.ndarray:
        sa, sb, saa, sbb, sab = (s / self.n for s in self.sums)
        std_a, std_b = (saa - sa**2).clamp_min(0).sqrt(), (sbb - sb**2).clamp_min(0).sqrt()
        cov = sab - sa[:, None] * sb[None, :]  # (n, n)
        return (cov / (std_a[:, None] * std_b[None, :] + 1e-12)).numpy()


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) or (B, C) activations as observations x units: (B*H*W, C)."""
    return t.movedim(1, -1).reshape(-1, t.shape[1])


def _record(model: nn.Module, spec: PermutationSpec, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The activations each permutation acts on, for one batch: perm -> (obs, n)."""
    modules = dict(model.named_modules())
    out, handles = {}, []
    for perm, name in spec.acts.items():
        handles.append(
            modules[name].register_forward_hook(
                lambda m, i, o, perm=perm: out.__setitem__(perm, _channels_last(o.detach()).clone())
            )
        )
    pool = modules[f"{ENC}attnpool"]

    def attention(m, inputs, output):
        x = inputs[0].flatten(2).permute(2, 0, 1)  # (HW, B, C)
        x = torch.cat([x.mean(0, keepdim=True), x]) + m.positional_embedding[:, None, :]  # (HW+1, B, C)
        q = m.q_proj(x[:1]).reshape(-1, x.shape[-1])  # (B, C): the pooled query
        k, v = (proj(x).reshape(-1, x.shape[-1]) for proj in (m.k_proj, m.v_proj))  # ((HW+1)*B, C)
        out.update({"attn.qk": torch.cat([q, k]), "attn.v": v, "feat": output.detach().clone()})

    handles.append(pool.register_forward_hook(attention))
    try:
        model(images)
    finally:
        for h in handles:
            h.remove()
    return out


@torch.no_grad()
def activation_matching(
    model: nn.Module,
    theta_a: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    images: torch.Tensor,
    spec: PermutationSpec,
    batch_size: int = 500,
) -> tuple[Perms, dict]:
    """Permutations of B whose units correlate best with A's on `images` (Ainsworth et al., Sec. 3.1).

    Each permutation is one assignment on the Pearson correlation matrix of the activations it acts
    on (after ReLU for conv units, the block output for the residual stream, q and k of the pooled
    query / keys, v, the pooled features), over images and spatial positions; attention units are
    assigned head by head (`assign_heads`). `model` (the architecture; eval mode, so BatchNorm uses
    each network's stored statistics) is loaded with both states in turn and left holding theta_b.

    Returns the permutations and {"images": n, "mean_correlation": {perm: mean matched correlation}}.
    """
    corr = {p: _Correlation() for p in spec.sizes}
    model.eval()
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]  # (b, 3, H, W)
        model.load_state_dict(theta_a)
        acts_a = _record(model, spec, batch)
        model.load_state_dict(theta_b)
        acts_b = _record(model, spec, batch)
        for p in spec.sizes:
            corr[p].add(acts_a[p], acts_b[p])
    mats = {p: c.matrix() for p, c in corr.items()}
    cols = {p: assign(m) for p, m in mats.items() if not spec.heads or p not in spec.heads[:2]}
    if spec.heads:
        qk, v, heads = spec.heads
        cols[qk], cols[v] = assign_heads(mats[qk], mats[v], heads)
    perms = {p: torch.as_tensor(c, dtype=torch.int64) for p, c in cols.items()}
    matched = {p: round(float(mats[p][np.arange(len(c)), c].mean()), 4) for p, c in cols.items()}
    return perms, {"images": len(images), "mean_correlation": matched}
