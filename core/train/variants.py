"""The paper's alternatives to its fine-tuning recipe, as pieces `finetune` applies (FinetuneConfig options).

l2_to_init  L2-SP (Li et al., 2018): the loss gains lambda * ||theta - theta_0||^2 over the trained weights,
            pulling them toward the zero-shot weights, where AdamW's weight decay pulls toward zero (L2-SP's
            own recipe sets weight_decay 0).
train_last_k  only the image tower's last k blocks, its output layers and the head are trained; the blocks
            before them and the stem are frozen, BatchNorm statistics included. Blocks (tower_blocks): an
            open_clip ViT's transformer.resblocks; a ModifiedResNet's Bottlenecks (layer1..layer4) and then
            its attention pool. k = 0 trains the head (and a ViT's ln_post and proj) on frozen features.
Fewer epochs and a smaller learning rate are FinetuneConfig's epochs and lr.
"""

from __future__ import annotations

import torch
from torch import nn

VIT_OUTPUT = ("attn_pool", "attn_pool_contrastive", "ln_post", "proj")  # a ViT's layers after its last block


def tower_blocks(encoder: nn.Module) -> list[tuple[str, nn.Module]]:
    """The image tower's blocks, input to output, by name: open_clip's VisionTransformer and ModifiedResNet."""
    if hasattr(encoder, "transformer") and hasattr(encoder.transformer, "resblocks"):
        return [(f"transformer.resblocks.{i}", b) for i, b in enumerate(encoder.transformer.resblocks)]
    if all(hasattr(encoder, f"layer{i}") for i in range(1, 5)) and hasattr(encoder, "attnpool"):
        blocks = [(f"layer{i}.{j}", b) for i in range(1, 5) for j, b in enumerate(getattr(encoder, f"layer{i}"))]
        return blocks + [("attnpool", encoder.attnpool)]
    raise ValueError(
        f"--train-last-k knows open_clip's ViT and ModifiedResNet image towers, not "
        f"{type(encoder).__name__}: fine-tune it whole, or as a linear classifier"
    )


def train_last_blocks(classifier: nn.Module, k: int) -> list[str]:
    """Freeze the image tower but its last k blocks and output layers (the head stays trained); returns
    the names of the tower's trained blocks."""
    encoder = classifier.image_encoder
    blocks = tower_blocks(encoder)
    if k > len(blocks):
        raise ValueError(
            f"--train-last-k {k}: the image tower has {len(blocks)} blocks ({blocks[0][0]} ... {blocks[-1][0]})"
        )
    encoder.requires_grad_(False)
    trained = blocks[len(blocks) - k :]
    for _, block in trained:
        block.requires_grad_(True)
    for name, p in encoder.named_parameters():
        if any(name == o or name.startswith(o + ".") for o in VIT_OUTPUT) and hasattr(encoder, "transformer"):
            p.requires_grad_(True)
    return [name for name, _ in trained]


def freeze_batchnorm(model: nn.Module) -> None:
    """Put BatchNorm layers with no trained parameter in eval mode: a frozen block's statistics stay theta_0's."""
    for m in model.modules():
        params = list(m.parameters())
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and params and not any(p.requires_grad for p in params):
            m.eval()


def anchor(model: nn.Module) -> dict[nn.Parameter, torch.Tensor]:
    """A detached copy of each parameter's current value (theta_0), keyed by the parameter itself."""
    return {p: p.detach().clone() for p in model.parameters()}


def squared_distance(params: list[torch.Tensor], anchors: list[torch.Tensor]) -> torch.Tensor:
    """||theta - theta_0||^2 summed over `params`, in float32 (a scalar tensor)."""
    return sum(((p.float() - a.float()) ** 2).sum() for p, a in zip(params, anchors))
