"""Command line: `python -m core <verb>`; each verb is a thin layer over the library.

    python -m core zeroshot --model ViT-B-32 --pretrained openai --classes-from folder:train --out RUN
    python -m core finetune --run RUN --train folder:train --epochs 10
    python -m core sweep    --run RUN --id folder:val --ood sketch=folder:sketch --alphas 0:1:21
    python -m core info     --run RUN [--json]
    python -m core compare  --run RUN --reference table5   (the paper's numbers beside the run's)

Under `torchrun --nproc_per_node=N -m core finetune|sweep ...` the work is split across N processes.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

DEFAULT_RUN_ROOTS = ("data/runs", "runs")


def _templates(name: str) -> list[str]:
    """'openai' (the 80 ImageNet prompts), 'simple' ('a photo of a {}.'), 'world', or a file."""
    if name == "simple":
        return ["a photo of a {}."]
    if name == "openai":
        import open_clip

        return [t("{}") for t in open_clip.OPENAI_IMAGENET_TEMPLATES]
    if name == "world":
        from .worlds import shapes

        return list(shapes.TEMPLATES)
    path = Path(name)
    if not path.is_file():
        raise ValueError(f"--templates {name!r}: use openai, simple, world, or a file with one template per line")
    templates = [t.strip() for t in path.read_text().splitlines() if t.strip()]
    if not all("{}" in t for t in templates):
        raise ValueError(f"every template in {path} needs a {{}} where the class name goes")
    return templates


def _classnames(args) -> list[str]:
    if args.classnames:
        return [c.strip() for c in Path(args.classnames).read_text().splitlines() if c.strip()]
    if args.classes_from:
        from .data import get_dataset

        return get_dataset(args.classes_from, args.data_root).classnames
    raise ValueError("give the classes: --classnames FILE (one per line) or --classes-from DATASET")


def _download(args) -> None:
    """--download: fetch the named datasets that allow it (CIFAR-10) before loading; never implicit."""
    if not getattr(args, "download", False):
        return
    from . import runtime
    from .datasets import download

    specs = [getattr(args, k, None) for k in ("classes_from", "train")]
    if runtime.is_main():  # one download under torchrun; the other ranks wait for it
        for spec in filter(None, specs + getattr(args, "id", []) + getattr(args, "ood", [])):
            download(spec, args.data_root)
    runtime.barrier()


def cmd_zeroshot(args) -> None:
    from .models import ModelSpec
    from .runs import create_zeroshot_run

    out = create_zeroshot_run(Path(args.out), ModelSpec(args.model, args.pretrained), _classnames(args),
                              _templates(args.templates), seed=args.seed, name=args.name, device=args.device)
    print(f"zero-shot run written to {out}")


def cmd_finetune(args) -> None:
    from .data import get_dataset
    from .finetune import FinetuneConfig, finetune

    overrides = {f.name: getattr(args, f.name) for f in fields(FinetuneConfig) if getattr(args, f.name, None) is not None}
    if args.preset:
        from .presets import get_preset

        overrides = {**get_preset(args.preset).finetune, **overrides}
    cfg = FinetuneConfig(**overrides)
    path = finetune(Path(args.run), get_dataset(args.train, args.data_root).subset(args.limit), cfg, args.device,
                    restart=args.restart, init_from=args.init_from)
    from . import runtime

    if runtime.is_main():
        print(f"fine-tuned weights written to {path}")


def cmd_sweep(args) -> None:
    from .data import get_dataset
    from .sweep import SweepConfig, parse_alphas, sweep

    alphas = parse_alphas(args.alphas)  # parse before any work, so a typo writes nothing
    cfg = SweepConfig(alphas=alphas, batch_size=args.batch_size, chunk_size=args.chunk_size,
                      num_workers=args.workers, device=args.device, compile=args.compile,
                      logits_dtype="float32" if args.float32 else "float16")
    sets = [(get_dataset(s, args.data_root).subset(args.limit), "id") for s in args.id]
    sets += [(get_dataset(s, args.data_root).subset(args.limit), "ood") for s in args.ood]
    sweep(Path(args.run), sets, cfg)
    from . import runtime
    from .artifacts import Run
    from .report import format_table

    if runtime.is_main():
        print(format_table(Run(args.run)))


def cmd_info(args) -> None:
    from .artifacts import Run, find_runs
    from .report import as_json, format_table

    if not args.run:
        runs = find_runs(*DEFAULT_RUN_ROOTS)
        print("\n".join(map(str, runs)) if runs else f"no runs under {', '.join(DEFAULT_RUN_ROOTS)}")
        return
    run = Run(args.run)
    if not run.has_sweep:
        print(json.dumps(run.manifest, indent=2) if args.json else f"{run.path}: no sweep yet\n"
              + json.dumps({k: run.manifest.get(k) for k in ("model", "finetune")}, indent=2))
        return
    print(json.dumps(as_json(run), indent=2) if args.json else format_table(run))


def cmd_compare(args) -> None:
    from .artifacts import Run
    from .compare import compare, format_comparison, load_reference

    reference = load_reference(args.reference)
    print(format_comparison(compare(Run(args.run), reference, model=args.model, finetune=args.finetune)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="verb", required=True)

    z = sub.add_parser("zeroshot", help="build the zero-shot classifier and start a run folder")
    z.add_argument("--model", required=True, help="open_clip name, local-dir:PATH, or a config JSON")
    z.add_argument("--pretrained", help="open_clip pretrained tag or checkpoint file")
    z.add_argument("--classnames", help="file with one class name per line")
    z.add_argument("--classes-from", help="dataset spec whose classes to use, e.g. folder:PATH")
    z.add_argument("--templates", default="openai", help="openai, simple, world, or a file")
    z.add_argument("--out", required=True)
    z.add_argument("--name")
    z.add_argument("--seed", type=int, default=0)

    f = sub.add_parser("finetune", help="fine-tune the run's zero-shot model")
    f.add_argument("--run", required=True)
    f.add_argument("--train", required=True, help="dataset spec, e.g. folder:PATH")
    f.add_argument("--preset", help="named recipe: vit-b-16-imagenet, ... (core.presets.list_presets())")
    f.add_argument("--mode", choices=("end-to-end", "linear-classifier"))
    for name, typ in (("lr", float), ("weight-decay", float), ("batch-size", int), ("epochs", int),
                      ("warmup-steps", int), ("label-smoothing", float), ("grad-clip", float),
                      ("seed", int), ("max-steps", int), ("checkpoint-every", int), ("keep-checkpoints", int)):
        f.add_argument(f"--{name}", type=typ, dest=name.replace("-", "_"))
    f.add_argument("--workers", type=int, dest="num_workers")
    f.add_argument("--no-augment", dest="augment", action="store_const", const=False)
    f.add_argument("--compile", dest="compile", action="store_const", const=True, help="torch.compile the model")
    # training helper's hunk (issue 10.3): explicit restart and fork instead of resume-as-fork
    f.add_argument("--restart", action="store_true", help="discard the run's checkpoints and train anew")
    f.add_argument("--init-from", type=Path, help="start from these weights (a weight file, or a train-state "
                   "checkpoint whose optimizer state and step are continued) instead of theta_0")

    s = sub.add_parser("sweep", help="logits of theta_alpha on eval sets for a grid of alphas")
    s.add_argument("--run", required=True)
    s.add_argument("--id", action="append", required=True, help="ID eval set spec")
    s.add_argument("--ood", action="append", default=[], help="OOD eval set spec (repeatable)")
    s.add_argument("--alphas", default="0:1:21", help="'0,0.5,1' or start:stop:num (default 0:1:21)")
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--chunk-size", type=int, default=4096)
    s.add_argument("--workers", type=int, default=0)
    s.add_argument("--float32", action="store_true", help="store float32 logits (default float16)")
    s.add_argument("--compile", action="store_true", help="torch.compile the model")

    i = sub.add_parser("info", help="print a run's accuracy table (or list runs)")
    i.add_argument("--run")
    i.add_argument("--json", action="store_true")

    c = sub.add_parser("compare", help="a run's accuracies beside the paper's, with deltas")
    c.add_argument("--run", required=True)
    c.add_argument("--reference", required=True, help="paper table (table5, table4, table6, ...) or a CSV path")
    c.add_argument("--model", help="the table's model to compare with (default: matched to the run's)")
    c.add_argument("--finetune", choices=("end-to-end", "linear-classifier"),
                   help="the table's fine-tuning rows (default: the run's mode)")

    for sp in (z, f, s):
        sp.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    for sp in (z, f, s):
        sp.add_argument("--data-root", help="where named datasets live")
        sp.add_argument("--download", action="store_true", help="fetch missing datasets that allow it (CIFAR-10)")
    for sp in (f, s):
        sp.add_argument("--limit", type=int, help="use only the first N examples of each dataset")
    return p


VERBS = {"zeroshot": cmd_zeroshot, "finetune": cmd_finetune, "sweep": cmd_sweep, "info": cmd_info,
         "compare": cmd_compare}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import runtime

    runtime.init_distributed()
    try:
        _download(args)
        VERBS[args.verb](args)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
