"""Throughput of the sweep's and fine-tune's compute at the paper's architectures (issue 11).

    python bench/gpu.py                       # on a GPU: ViT-B-32 and ViT-B-16, batch 256
    python bench/gpu.py --smoke               # CPU smoke test: a tiny model, a few steps

For each model, built at random init with the OpenAI tags' QuickGELU (no download), with a 1000-class
head, it prints images/s of
  - sweep: theta_alpha written in place (core.wiseft.interpolate.interpolate_, foreach lerp), then the
    classifier's forward under bf16 autocast (head in fp32) on a device-resident batch;
  - fine-tune: core.train.finetune.train_step (bf16 autocast, fp32 head and loss, grad clip, fused AdamW);
and the fraction of the device's dense bf16 peak that the achieved FLOP rate is (FLOPs counted with
torch.utils.flop_counter on one forward; a training step counted as 3 forwards). Data loading and
JPEG decoding are not included: this measures the GPU side only. The peak comes from a small table
by device name or --peak-tflops. Measured figures go to docs/benchmarks.md; until a GPU run, they are
unmeasured there.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10G": 70.0}
TINY = {
    "embed_dim": 32,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def build(name: str, dev: torch.device, classes: int = 1000):
    """An ImageClassifier of open_clip's `name` at random init, QuickGELU (as the OpenAI weights)."""
    import open_clip

    from core.model.clip import ImageClassifier

    if name == "tiny":
        open_clip.factory._MODEL_CONFIGS["bench-tiny"] = TINY
        name = "bench-tiny"
    model = open_clip.create_model(name, force_quick_gelu=True)
    size = model.visual.image_size
    head = nn.Linear(model.visual.output_dim, classes)
    return ImageClassifier(model.visual, head).to(dev), size if isinstance(size, int) else size[0]


def forward_flops(classifier: nn.Module, size: int, dev: torch.device) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, 3, size, size, device=dev)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        classifier(x)
    return float(counter.get_total_flops())


def timed(fn, steps: int, warmup: int, dev: torch.device) -> float:
    """Seconds per call of fn, after warmup calls."""
    for _ in range(warmup):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return (time.perf_counter() - t0) / steps


def bench_model(name: str, batch: int, steps: int, warmup: int, dev: torch.device) -> dict:
    from core import runtime
    from core.train.finetune import FinetuneConfig, train_step
    from core.wiseft.interpolate import interpolate_

    classifier, size = build(name, dev)
    flops = forward_flops(classifier, size, dev)
    x = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=dev)  # decoded chunk, on device
    y = torch.randint(0, 1000, (batch,), device=dev)
    images = (x.float() / 255 - 0.45) / 0.27  # (B, 3, H, W) normalised on the device
    theta_0 = {k: v.clone() for k, v in classifier.state_dict().items()}
    theta_1 = {k: v + 0.01 if v.is_floating_point() else v.clone() for k, v in theta_0.items()}
    target = classifier.state_dict()
    classifier.eval()

    def sweep_pass():
        interpolate_(target, theta_0, theta_1, 0.5)
        with torch.no_grad(), runtime.autocast(dev):
            classifier(images)

    sweep_s = timed(sweep_pass, steps, warmup, dev)
    lerp_s = timed(lambda: interpolate_(target, theta_0, theta_1, 0.5), steps, warmup, dev)
    classifier.train()
    cfg = FinetuneConfig(lr=1e-5)
    params = list(classifier.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=dev.type == "cuda")
    train_s = timed(
        lambda: train_step(classifier, opt, params, images, y, cfg.lr, cfg, runtime.autocast(dev)), steps, warmup, dev
    )
    return {
        "model": name,
        "gflops_per_image": flops / 1e9,
        "sweep_img_s": batch / sweep_s,
        "lerp_ms": lerp_s * 1e3,
        "finetune_img_s": batch / train_s,
        "sweep_tflops": flops * batch / sweep_s / 1e12,
        "finetune_tflops": 3 * flops * batch / train_s / 1e12,
    }


def peak_tflops(dev: torch.device, given: float | None) -> float | None:
    if given or dev.type != "cuda":
        return given
    name = torch.cuda.get_device_name(dev)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="ViT-B-32,ViT-B-16")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device")
    p.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: by device name)")
    p.add_argument("--smoke", action="store_true", help="CPU smoke test: tiny model, batch 8, 2 steps")
    args = p.parse_args(argv)
    from core.runtime import pick_device

    if args.smoke:
        args.models, args.batch, args.steps, args.warmup, args.device = "tiny", 8, 2, 1, args.device or "cpu"
    dev = pick_device(args.device)
    peak = peak_tflops(dev, args.peak_tflops)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"device: {name}; batch {args.batch}; bf16 peak: {f'{peak:.0f} TFLOPS' if peak else 'unknown'}")
    for model in args.models.split(","):
        r = bench_model(model, args.batch, args.steps, args.warmup, dev)
        frac = {
            k: f"{r[k] / peak:.1%} of peak" if peak else "peak unknown" for k in ("sweep_tflops", "finetune_tflops")
        }
        print(
            f"{r['model']:>10}: {r['gflops_per_image']:.1f} GFLOP/img fwd"
            f" | sweep {r['sweep_img_s']:,.1f} img/s ({r['sweep_tflops']:.1f} TFLOPS, {frac['sweep_tflops']};"
            f" interpolation {r['lerp_ms']:.2f} ms/alpha)"
            f" | fine-tune {r['finetune_img_s']:,.1f} img/s"
            f" ({r['finetune_tflops']:.1f} TFLOPS, {frac['finetune_tflops']})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
