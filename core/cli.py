"""Command line: `python -m core <verb>`; each verb is a thin layer over the library.

    python -m core zeroshot --model ViT-B-32 --pretrained openai --classes-from folder:train --out RUN
    python -m core finetune --run RUN --train folder:train --epochs 10
    python -m core sweep    --run RUN --id folder:val --ood sketch=folder:sketch --alphas 0:1:21
    python -m core info     [--run RUN] [--format table|csv|markdown|latex|json] [--ensemble [logits|probs]]   (without --run: list the runs)
    python -m core upgrade  --run RUN   (once, for a run swept before run format 2: store its reductions)
    python -m core export   --run RUN --alpha 0.5 --out DIR   (theta_alpha as a folder open_clip loads)
    python -m core predict  --run RUN --alpha 0 --alpha 0.5 IMAGE...   (top-k classes along the path)
    python -m core compare  --run RUN --reference table5   (the paper's numbers beside the run's)
    python -m core datasets (the named datasets, their layouts and published sizes)
    python -m core world    [--lab] [--quick]   (build the embedded world from scratch: `make world`)
    python -m core align    [--run RUN] [--methods ...]   (permutation alignment of a path run's two ends)
    python -m core share    --run RUN [--out PAGE.html] | --lesson   (a view as one offline HTML page)

`python -m core VERB --help` describes a verb, with examples. Under `torchrun --nproc_per_node=N
-m core -- finetune|sweep ...` the work is split across N processes.

Adding a verb: write `cmd_x(args)` (its docstring is the --help description) and `_x_args(parser)`,
and add a `Verb` to VERBS. Every bad input surfaces as one line `error: ...` and exit code 2.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RUN_ROOTS = ("data/runs", "runs")


class UsageError(ValueError):
    """A command line that cannot be acted on (bad flag value, missing input)."""


# ----------------------------------------------------------------------------- helpers


def _templates(name: str) -> list[str]:
    """'openai' (the 80 ImageNet prompts), 'simple' ('a photo of a {}.'), 'world', or a file."""
    if name == "simple":
        return ["a photo of a {}."]
    if name == "openai":
        import open_clip

        return [t("{}") for t in open_clip.OPENAI_IMAGENET_TEMPLATES]
    if name == "world":
        from core.worlds import shapes

        return list(shapes.TEMPLATES)
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"--templates {name!r}: use openai, simple, world, or a file with one template per line")
    templates = [t.strip() for t in path.read_text().splitlines() if t.strip()]
    if not templates:
        raise UsageError(f"--templates {path} is empty: write one template per line, each with {{}} for the class name")
    if not all("{}" in t for t in templates):
        raise UsageError(f"every template in {path} needs a {{}} where the class name goes")
    return templates


def _classnames(args) -> list[str]:
    if args.classnames:
        path = Path(args.classnames)
        if not path.is_file():
            raise UsageError(f"--classnames {path} is not a file; give a text file with one class name per line")
        names = [c.strip() for c in path.read_text().splitlines() if c.strip()]
        if not names:
            raise UsageError(f"--classnames {path} holds no class names; write one class name per line")
        return names
    if args.classes_from:
        from core.data.registry import get_dataset

        return get_dataset(args.classes_from, args.data_root, args.allow_partial).classnames
    raise UsageError("give the classes: --classnames FILE (one per line) or --classes-from DATASET")


def _datasets(specs: list[str], args, role: str) -> list:
    """The datasets of specs, cut to --limit evenly spaced examples, their classes checked against
    the run's head (so that a mismatch names the set's role: training set or eval set)."""
    from core.data.registry import align_classes, get_dataset
    from core.runs.artifacts import read_manifest

    try:
        manifest = read_manifest(Path(args.run))
    except ValueError:  # not a run: finetune / sweep say so themselves
        manifest = None
    head = manifest.get("classnames") if isinstance(manifest, dict) else None
    sets = [get_dataset(spec, args.data_root, args.allow_partial).subset(args.limit) for spec in specs]
    return [align_classes(s, head, role) for s in sets] if isinstance(head, list) else sets


def _download(args) -> None:
    """--download: fetch the named datasets that allow it (CIFAR-10) before loading; never implicit."""
    if not getattr(args, "download", False):
        return
    from core import runtime
    from core.data.shifts import download

    specs = [getattr(args, k, None) for k in ("classes_from", "train")]
    if runtime.is_main():  # one download under torchrun; the other ranks wait for it
        for spec in filter(None, specs + getattr(args, "id", []) + getattr(args, "ood", [])):
            download(spec, args.data_root)
    runtime.barrier()


# ----------------------------------------------------------------------------- verbs


def cmd_zeroshot(args) -> None:
    """Build the zero-shot classifier theta_0 (CLIP image tower + a head made from the class names
    and prompt templates) and start a run folder with it."""
    from core.model.clip import ModelSpec
    from core.runs.create import create_zeroshot_run

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a file; give the path of a new run folder")
    out = create_zeroshot_run(
        Path(args.out),
        ModelSpec(args.model, args.pretrained),
        _classnames(args),
        _templates(args.templates),
        seed=args.seed,
        name=args.name,
        device=args.device,
    )
    print(f"zero-shot run written to {out}")


def cmd_finetune(args) -> None:
    """Fine-tune the run's zero-shot model on a training set (theta_1). The defaults are the
    paper's end-to-end recipe; --preset picks a named paper setting and flags override it. A stopped
    fine-tune resumes when the same command is run again."""
    from dataclasses import fields

    from core.train.finetune import FinetuneConfig, finetune

    overrides = {
        f.name: getattr(args, f.name) for f in fields(FinetuneConfig) if getattr(args, f.name, None) is not None
    }
    if args.preset:
        from core.train.presets import get_preset

        preset = get_preset(args.preset)
        overrides = {**preset.finetune, **overrides}
        if preset.recipe_source != "paper":
            print(f"note: preset {preset.name}: {preset.recipe_source}", file=sys.stderr)
    cfg = FinetuneConfig(**overrides)
    path = finetune(
        Path(args.run),
        _datasets([args.train], args, "training set")[0],
        cfg,
        args.device,
        restart=args.restart,
        init_from=args.init_from,
    )
    from core import runtime

    if runtime.is_main():
        print(f"fine-tuned weights written to {path}")


def cmd_sweep(args) -> None:
    """Logits of theta_alpha = (1 - alpha) theta_0 + alpha theta_1 on the eval sets, for a grid of
    alphas; writes them into the run and prints the accuracy table."""
    from core.wiseft.sweep import SweepConfig, parse_alphas, sweep

    alphas = parse_alphas(args.alphas)  # parse before any work, so a typo writes nothing
    cfg = SweepConfig(
        alphas=alphas,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        num_workers=args.workers,
        device=args.device,
        compile=args.compile,
        logits_dtype="float32" if args.float32 else "float16",
        keep_logits=not args.reductions_only,
    )
    sets = list(zip(_datasets(args.id + args.ood, args, "eval set"), ["id"] * len(args.id) + ["ood"] * len(args.ood)))
    sweep(Path(args.run), sets, cfg)
    from core import runtime
    from core.results.report import format_table
    from core.runs.artifacts import Run

    if runtime.is_main():
        print(format_table(Run(args.run)))


def cmd_info(args) -> None:
    """Print a run's accuracy table (or its manifest as JSON). Without --run, list the runs found
    under data/runs/ and runs/."""
    import numpy as np

    from core.results.report import as_json, format_table
    from core.runs.artifacts import Run, find_runs

    if not args.run:
        runs = find_runs(*DEFAULT_RUN_ROOTS)
        if args.json or args.format == "json":
            print(json.dumps({"roots": list(DEFAULT_RUN_ROOTS), "runs": [_run_summary(p) for p in runs]}, indent=2))
        else:
            print("\n".join(map(str, runs)) if runs else f"no runs under {', '.join(DEFAULT_RUN_ROOTS)}")
        return
    run = Run(args.run)
    run.check()  # a sweep file cut short is refused here, not reported from metrics.csv alone
    from core.runs.upgrade import upgrade_note

    if note := upgrade_note(run):
        print(f"note: {note}", file=sys.stderr)
    fmt = "json" if args.json else args.format
    if not run.has_sweep:
        print(
            json.dumps(run.manifest, indent=2)
            if fmt == "json"
            else f"{run.path}: no sweep yet\n"
            + json.dumps({k: run.manifest.get(k) for k in ("model", "finetune")}, indent=2)
        )
        return
    from core.results.extra_metrics import format_extra_metrics, run_extra_metrics

    if fmt == "json":
        extra = {
            name: {"metric": m, "values": np.asarray(v).tolist()} for name, (m, v) in run_extra_metrics(run).items()
        }
        ens = {"output_ensemble": _ensemble_json(run, args.ensemble)} if args.ensemble else {}
        print(json.dumps({**as_json(run), **({"extra_metrics": extra} if extra else {}), **ens}, indent=2))
    elif fmt == "table":
        from core.results.ensembles import format_ensemble

        ens = format_ensemble(run, args.ensemble) if args.ensemble else ""
        print("\n\n".join(filter(None, [format_table(run), format_extra_metrics(run), ens])))
    else:
        from core.results.tables import format_frame, run_interval_tables, run_table

        print(
            format_frame(
                run_table(run, ensemble=args.ensemble),
                fmt,
                intervals=None if args.ensemble else run_interval_tables(run),
            )
        )


def _run_summary(path: Path) -> dict:
    """One run of `info --json`'s list: its path, name and whether it has a sweep (or why it cannot be read)."""
    from core.runs.artifacts import read_manifest

    try:
        manifest = read_manifest(path)
    except ValueError as err:
        return {"path": str(path), "error": str(err)}
    return {"path": str(path), "name": manifest.get("name") or path.name, "swept": bool(manifest.get("sweep"))}


def _ensemble_json(run, mix: str) -> dict:
    """info --json's output-space ensemble block: per set (and avg_ood) and grid alpha, the ensemble's and
    WiSE-FT's accuracy with 95% intervals and their paired difference, in [0, 1]."""
    from core.results.ensembles import INFERENCE_PASSES, ensemble_rows

    rows = [
        {
            "dataset": r["dataset"],
            "alpha": r["alpha"],
            "ensemble_loss": r["ensemble_loss"],
            **{k: r[k].as_dict() for k in ("wiseft", "ensemble", "difference")},
        }
        for r in ensemble_rows(run, mix)
    ]
    return {"mix": mix, "inference_passes": INFERENCE_PASSES, "rows": rows}


def cmd_compare(args) -> None:
    """A run's accuracies beside a paper table's, with deltas. Refuses when the run's model or
    datasets are not the table's (--allow-mismatch compares anyway)."""
    from core.results.compare import compare, format_comparison, load_reference
    from core.runs.artifacts import Run

    reference = load_reference(args.reference)
    print(
        format_comparison(
            compare(
                Run(args.run), reference, model=args.model, finetune=args.finetune, allow_mismatch=args.allow_mismatch
            )
        )
    )


def cmd_upgrade(args) -> None:
    """Upgrade a run swept before run format 2 (no stored reductions) once: its reductions are computed
    and stored, streaming, so the explorer and `info` open it without recomputing them on every read."""
    from core.runs.upgrade import upgrade

    folder = upgrade(Path(args.run))
    print(
        f"{args.run} already stores its reductions: nothing to upgrade"
        if folder is None
        else f"{args.run} upgraded: its reductions are in {folder}"
    )


def cmd_export(args) -> None:
    """Write theta_alpha (any real alpha) as a folder that plain open_clip loads, with a README
    snippet that classifies an image with it (open_clip and torch only)."""
    from core.runs.artifacts import Run
    from core.wiseft.export import export_model

    out = export_model(Run(args.run), args.alpha, Path(args.out))
    print(f"theta_alpha (alpha {args.alpha:g}) written to {out}; see {out / 'README.md'} to load it with open_clip")


def cmd_predict(args) -> None:
    """Top-k classes of theta_alpha for image files or folders; repeat --alpha to see the
    predictions move along the path."""
    from core.runs.artifacts import Run
    from core.wiseft.predict import format_predictions, predict_files

    rows = predict_files(Run(args.run), args.images, args.alpha or [0.5], top_k=args.top_k, device=args.device or "cpu")
    print(json.dumps(rows, indent=2) if args.json else format_predictions(rows))


def cmd_datasets(args) -> None:
    """List the named datasets: spec, layout under --data-root and published size(s)."""
    from core.data.registry import dataset_entry, list_datasets

    for name, help in list_datasets().items():
        entry = dataset_entry(name)
        sizes = ", ".join(f"{k or 'default'} {v:,}" for k, v in entry.sizes.items() if k or len(entry.sizes) == 1)
        print(f"{name}\n    {help}\n    layout: {entry.layout or '-'}\n    published size: {sizes or '- (any size)'}")


def cmd_world(args) -> None:
    """Build the embedded world from scratch: pretrain its CLIP, fine-tune, sweep, the LMC runs, the
    baselines, the loss plane and the LMC lab (`make world`, ~22 min on 2 CPU cores). Each step is
    skipped when its output exists, so an interrupted build resumes; docs/world.md has what each builds."""
    from core.worlds.build.world import build_cli

    times = build_cli(args.out, args.work, args.quick, args.lab)
    print("world built:", json.dumps(times), f"total {sum(times.values()):.0f}s")


def cmd_align(args) -> None:
    """Align the two ends of a path run by permutation (weight and activation matching) and measure the
    barrier before and after (the LMC lab's alignment step, on any pair of world-style ResNets)."""
    from core.lmc.align import align_cli

    path = align_cli(args.run, args.out, args.methods, args.eval_set, args.quick)
    stored = json.loads(path.read_text())
    print(path, json.dumps({"best": stored["best"], "holds": stored["holds"]}))


def cmd_share(args) -> None:
    """Write a run's view (or the lesson's runs, with a run switcher) as one self-contained HTML page: the
    explorer's live view (slider, tiles, the five charts, jump-to buttons), the examples that changed as
    embedded images, the definitions and the LMC lab's charts. It opens from file:// or any static host with
    the network off, on a laptop or a phone, with no Python: the numbers are the explorer's own. The page is
    made by the presentation layer (explorer.share), imported only here: core itself never needs plotting."""
    from core.runs.artifacts import atomic_write_bytes

    if bool(args.run) == bool(args.lesson):
        raise UsageError("give one of --run RUN (one run's view) or --lesson (the lesson's runs)")
    try:
        from explorer import share, state
    except ModuleNotFoundError as err:
        raise UsageError(
            f"share needs the explorer's packages ({err.name} is missing): pip install -e '.[app]'"
        ) from None
    cfg = share.ShareConfig(thumbs=args.thumbs, lab=not args.no_lab)
    if args.lesson:
        page = share.lesson_page(cfg=cfg, alpha=args.alpha, steps=share.lesson_steps())
    else:
        ra = state.load_run(args.run)
        page = share.run_page(ra, share.default_payload(ra, args.alpha), cfg)
    out = args.out or Path("lesson.html" if args.lesson else f"{Path(args.run).resolve().name}.html")
    atomic_write_bytes(out, page.html.encode())
    print(f"wrote {out}: {page.summary()}")


# ----------------------------------------------------------------------------- arguments


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", help="folder holding the named datasets (`python -m core datasets` lists them)")
    p.add_argument("--download", action="store_true", help="fetch missing datasets that allow it (CIFAR-10)")
    p.add_argument(
        "--allow-partial", action="store_true", help="accept a named dataset whose size differs from its published size"
    )


def device_name(text: str) -> str:
    """argparse type: a torch device string (cpu, cuda, cuda:1, mps, ...), checked by torch itself."""
    import torch

    try:
        torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; use cpu, cuda, cuda:N or mps") from None
    return text


def _device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=device_name, help="cpu, cuda, cuda:1 (default: cuda when available, else cpu)")


def _limit_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--limit",
        type=positive_int,
        help="use only N evenly spaced examples of each dataset (spread over its classes; default: all)",
    )


def _zeroshot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="open_clip model name, local-dir:PATH, or a config JSON")
    p.add_argument("--pretrained", help="open_clip pretrained tag or checkpoint file (default: random init)")
    p.add_argument("--classnames", help="file with one class name per line")
    p.add_argument("--classes-from", help="dataset spec whose classes to use, e.g. folder:PATH or imagenet")
    p.add_argument("--templates", default="openai", help="prompt templates: openai, simple, world, or a file")
    p.add_argument("--out", required=True, help="the new run folder (must not hold a run)")
    p.add_argument("--name", help="display name of the run (default: the folder name)")
    p.add_argument("--seed", type=int, default=0, help="seed for random initialisation")
    _device_arg(p)
    _data_args(p)


# name: (type, help); defaults are FinetuneConfig's (tests/test_cli_help.py checks them).
FINETUNE_FLAGS = {
    "lr": (float, "peak learning rate after warmup", 3e-5),
    "weight-decay": (float, "AdamW decoupled weight decay", 0.1),
    "batch-size": (positive_int, "global batch size (split across torchrun ranks)", 512),
    "epochs": (positive_int, "passes over the training set", 10),
    "warmup-steps": (int, "linear warmup steps from 0 to --lr", 500),
    "label-smoothing": (float, "label smoothing in [0, 1)", 0.0),
    "grad-clip": (float, "max global gradient norm; 0 disables", 1.0),
    "seed": (int, "seed for data order and augmentation", 0),
    "max-steps": (positive_int, "stop after this many steps (smoke tests)", None),
    "checkpoint-every": (int, "steps between train-state checkpoints; 0 = each epoch end", 0),
    "keep-checkpoints": (int, "newest checkpoints kept; 0 keeps all", 1),
    "l2-to-init": (
        float,
        (
            "L2-SP: add this times ||theta - theta_0||^2 (trained weights) to the loss, pulling "
            "toward the zero-shot weights; 0 disables (L2-SP's recipe pairs it with --weight-decay 0)"
        ),
        0.0,
    ),
    "train-last-k": (
        int,
        (
            "train only the image tower's last K blocks and the head (end-to-end; ViT: resblocks, "
            "ResNet: Bottlenecks then the attention pool); none trains the whole network"
        ),
        None,
    ),
}


def _finetune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run folder made by `zeroshot`")
    p.add_argument("--train", required=True, help="training dataset spec, e.g. folder:PATH or imagenet:train")
    p.add_argument("--preset", help="named paper recipe: " + ", ".join(_preset_names()))
    p.add_argument(
        "--mode",
        choices=("end-to-end", "linear-classifier"),
        help="what is trained (default: end-to-end; linear-classifier trains the head only)",
    )
    for name, (typ, text, default) in FINETUNE_FLAGS.items():
        shown = "none" if default is None else f"{default:g}" if isinstance(default, float) else default
        p.add_argument(
            f"--{name}",
            type=typ,
            dest=name.replace("-", "_"),
            help=f"{text} (default: {shown}, or the --preset's value)",
        )
    p.add_argument("--workers", type=int, dest="num_workers", help="data loader worker processes (default: 0)")
    p.add_argument(
        "--no-augment",
        dest="augment",
        action="store_const",
        const=False,
        help="use the eval transform instead of random resized crops (default: augment)",
    )
    p.add_argument(
        "--compile", dest="compile", action="store_const", const=True, help="torch.compile the model (default: off)"
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="discard the run's checkpoints and train anew (default: resume when the settings match)",
    )
    p.add_argument(
        "--init-from",
        type=Path,
        help="start from these weights (a weight file, or a train-state "
        "checkpoint whose optimizer state and step are continued) instead of theta_0 (default: theta_0)",
    )
    _device_arg(p)
    _data_args(p)
    _limit_arg(p)


def _sweep_args(p: argparse.ArgumentParser) -> None:
    from core.wiseft.sweep import SweepConfig

    cfg = SweepConfig()
    p.add_argument("--run", required=True, help="run folder with zero-shot and fine-tuned weights")
    p.add_argument(
        "--id",
        action="append",
        required=True,
        metavar="[NAME=]SPEC",
        help="ID eval set (repeatable): a dataset spec, optionally named, e.g. imagenet or val=folder:PATH",
    )
    p.add_argument(
        "--ood",
        action="append",
        default=[],
        metavar="[NAME=]SPEC",
        help="OOD eval set (repeatable), NAME=SPEC names it in the run: sketch=folder:PATH, imagenet-r",
    )
    p.add_argument("--alphas", default="0:1:21", help="'0,0.5,1' or start:stop:num")
    p.add_argument("--batch-size", type=positive_int, default=cfg.batch_size, help="forward-pass batch size")
    p.add_argument(
        "--chunk-size",
        type=positive_int,
        default=cfg.chunk_size,
        help="images decoded at once and kept in memory across alphas",
    )
    p.add_argument("--workers", type=int, default=cfg.num_workers, help="data loader worker processes")
    p.add_argument("--float32", action="store_true", help="store float32 logits (default: float16)")
    p.add_argument(
        "--reductions-only",
        action="store_true",
        help="store only per-example reductions (predictions, losses, top-k), not the logit tensor, for "
        "very large runs; linear-classifier runs keep their two endpoint logits (default: keep logits)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model (default: off)")
    _device_arg(p)
    _data_args(p)
    _limit_arg(p)


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", help="run folder (default: list the runs under data/runs/ and runs/)")
    p.add_argument(
        "--format",
        choices=("table", "csv", "markdown", "latex", "json"),
        default="table",
        help="table: fixed-width; csv/markdown/latex: the paper's layout (core.results.tables); json: "
        "everything; each accuracy with its 95%% interval",
    )
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument(
        "--ensemble",
        nargs="?",
        const="logits",
        choices=("logits", "probs"),
        help="add the output-space ensemble of the two ends beside WiSE-FT, from the stored endpoint "
        "logits (2 forward passes per image; WiSE-FT 1): mixing logits (the paper's; the default "
        "when the flag has no value) or probabilities",
    )


def _upgrade_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run folder swept before run format 2")


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run folder with fine-tuned weights")
    p.add_argument("--alpha", type=float, required=True, help="any real: 0 zero-shot, 1 fine-tuned, >1 extrapolates")
    p.add_argument("--out", required=True, help="a new (or empty) folder")


def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run folder with fine-tuned weights")
    p.add_argument("--alpha", type=float, action="append", help="repeatable; any real (default: 0.5)")
    p.add_argument("--top-k", type=positive_int, default=3, help="classes shown per image")
    p.add_argument("--json", action="store_true", help="rows {image, alpha, rank, class, index, probability}")
    p.add_argument("--device", type=device_name, help="cpu, cuda, cuda:1 (default: cpu)")
    p.add_argument("images", nargs="+", help="image files or folders of images")


def _world_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("data"), help="where the shipped world goes")
    p.add_argument("--work", type=Path, default=Path("build/world"), help="intermediate runs (not shipped)")
    p.add_argument("--quick", action="store_true", help="tiny budget (tests): minutes, not the shipped runs")
    p.add_argument(
        "--lab",
        action="store_true",
        help="only the LMC lab's missing or stale steps, on an existing "
        "built world (the same networks and numbers as a full build)",
    )


def _align_args(p: argparse.ArgumentParser) -> None:
    from core.lmc.align import ALIGNMENT_METHODS, AlignConfig

    p.add_argument("--run", type=Path, default=Path("data/runs/lmc-scratch"), help="the path run of the pair")
    p.add_argument("--out", type=Path, default=None, help="folder for align.json (default runs/align/<run name>)")
    p.add_argument(
        "--methods", default=",".join(AlignConfig.methods), help=f"comma-separated, from {','.join(ALIGNMENT_METHODS)}"
    )
    p.add_argument("--eval-set", default=None, help="dataset spec of the paths' images (default: the run's ID set)")
    p.add_argument("--quick", action="store_true", help="a few dozen images, three alphas (seconds)")


def _share_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", help="run folder whose view the page shows")
    p.add_argument(
        "--lesson", action="store_true", help="the lesson's runs (world-e2e, world-lc, lmc-*) with a run switcher"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="the page to write (default: RUN_NAME.html or lesson.html here)"
    )
    p.add_argument("--alpha", type=float, default=0.5, help="where the slider starts (a link's ?alpha= overrides it)")
    p.add_argument(
        "--thumbs",
        type=int,
        default=12,
        help="fixed and broken examples kept per eval set and swept alpha; 0 leaves the gallery out",
    )
    p.add_argument("--no-lab", action="store_true", help="leave the LMC lab's charts out")


def _compare_args(p: argparse.ArgumentParser) -> None:
    from core.results.compare import list_tables

    p.add_argument("--run", required=True, help="run folder with a sweep")
    p.add_argument(
        "--reference",
        required=True,
        metavar="TABLE",
        help="paper table(s), comma-separated, or a CSV path; available: " + ", ".join(list_tables()),
    )
    p.add_argument("--model", help="the table's model to compare with (default: matched to the run's)")
    p.add_argument(
        "--finetune",
        choices=("end-to-end", "linear-classifier"),
        help="the table's fine-tuning rows (default: the run's mode)",
    )
    p.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="compare even when the run's model or datasets are not the table's",
    )


def _preset_names() -> list[str]:
    from core.train.presets import list_presets

    return list(list_presets())


@dataclass(frozen=True)
class Verb:
    """One subcommand: what it runs, its arguments, a one-line summary and examples for --help."""

    run: Callable[[argparse.Namespace], None]
    add_arguments: Callable[[argparse.ArgumentParser], None]
    summary: str
    examples: tuple[str, ...]


VERBS: dict[str, Verb] = {
    "zeroshot": Verb(
        cmd_zeroshot,
        _zeroshot_args,
        "build the zero-shot classifier and start a run folder",
        (
            "python -m core zeroshot --model ViT-B-16 --pretrained openai --classes-from imagenet --data-root /data --out runs/b16",
            "python -m core zeroshot --model tiny.json --classnames classes.txt --templates simple --out runs/tiny",
        ),
    ),
    "finetune": Verb(
        cmd_finetune,
        _finetune_args,
        "fine-tune the run's zero-shot model",
        (
            "python -m core finetune --run runs/b16 --train imagenet:train --data-root /data --preset vit-b-16-imagenet",
            "python -m core finetune --run runs/tiny --train folder:train --epochs 2 --batch-size 16 --lr 1e-3",
            "python -m core finetune --run runs/tiny --train folder:train --train-last-k 1 --l2-to-init 0.1",
        ),
    ),
    "sweep": Verb(
        cmd_sweep,
        _sweep_args,
        "logits of theta_alpha on eval sets for a grid of alphas",
        (
            "python -m core sweep --run runs/tiny --id folder:val --ood sketch=folder:sketch --alphas 0,0.5,1",
            "python -m core sweep --run runs/b16 --data-root /data --id imagenet --ood imagenet-r --ood objectnet",
            "python -m core sweep --run runs/tiny --id folder:val --limit 200 --alphas 0:1:11",
        ),
    ),
    "info": Verb(
        cmd_info,
        _info_args,
        "print a run's accuracy table (without --run: list the runs)",
        (
            "python -m core info",
            "python -m core info --run data/runs/world-e2e --ensemble",
            "python -m core info --run data/runs/world-e2e --json | head",
        ),
    ),
    "compare": Verb(
        cmd_compare,
        _compare_args,
        "a run's accuracies beside the paper's, with deltas",
        (
            "python -m core compare --run runs/b16 --reference table5",
            "python -m core compare --run runs/l14-cifar10 --reference table2,table6",
            "python -m core compare --run runs/tiny --reference my_numbers.csv --allow-mismatch",
        ),
    ),
    "upgrade": Verb(
        cmd_upgrade,
        _upgrade_args,
        "store the reductions of a run swept before run format 2 (once)",
        ("python -m core upgrade --run runs/old-imagenet",),
    ),
    "export": Verb(
        cmd_export,
        _export_args,
        "write theta_alpha as a folder that plain open_clip loads",
        ("python -m core export --run data/runs/world-e2e --alpha 0.5 --out exported/world-0.5",),
    ),
    "predict": Verb(
        cmd_predict,
        _predict_args,
        "top-k classes of theta_alpha for images, along the path",
        (
            "python -m core predict --run data/runs/world-e2e --alpha 0 --alpha 0.5 --alpha 1 photo.png",
            "python -m core predict --run runs/b16 --alpha 0.5 --top-k 5 --json my_images/",
        ),
    ),
    "datasets": Verb(
        cmd_datasets,
        lambda p: None,
        "list the named datasets, their layouts and published sizes",
        ("python -m core datasets",),
    ),
    "world": Verb(
        cmd_world,
        _world_args,
        "build the embedded world from scratch (what `make world` runs)",
        (
            "python -m core world",
            "python -m core world --lab",
            "python -m core world --quick --out /tmp/w/data --work /tmp/w/work",
        ),
    ),
    "align": Verb(
        cmd_align,
        _align_args,
        "align a path run's two ends by permutation; barrier before and after",
        ("python -m core align", "python -m core align --run data/runs/lmc-scratch --methods weight_matching --quick"),
    ),
    "share": Verb(
        cmd_share,
        _share_args,
        "a run's view (or the lesson's runs) as one offline HTML page",
        (
            "python -m core share --run data/runs/world-e2e --out world-e2e.html",
            "python -m core share --lesson --out lesson.html",
            "python -m core share --run runs/b16 --thumbs 0 --no-lab",
        ),
    ),
}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and appends each option's non-empty default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        empty = action.default is None or action.default is False or action.default in ([], argparse.SUPPRESS)
        if "default" not in text and not empty and action.option_strings:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line `error: ...` (exit code 2), like every other error."""

    def error(self, message: str):
        _end_progress_bars()
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every verb; with `only`, just that verb's options are added (the others'
    option builders import torch, which `info` and `compare` never need)."""
    p = _Parser(prog="python -m core", description=__doc__, formatter_class=_Formatter)
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)
    for name, verb in VERBS.items():
        examples = "examples:\n" + "\n".join(f"  {e}" for e in verb.examples)
        sp = sub.add_parser(
            name,
            help=verb.summary,
            description=inspect.cleandoc(verb.run.__doc__ or verb.summary),
            epilog=examples,
            formatter_class=_Formatter,
        )
        if only is None or only == name:
            verb.add_arguments(sp)
    return p


# ----------------------------------------------------------------------------- entry point


def _end_progress_bars() -> None:
    """Close open tqdm bars, so that a message starts on a fresh line, not on a bar's line."""
    if "tqdm" not in sys.modules:
        return
    from tqdm.std import tqdm

    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()


def _quiet_broken_pipe() -> int:
    """`... | head` closed stdout: stop quietly (no BrokenPipeError traceback at exit)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser(next((a for a in argv if a in VERBS), None)).parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2, already printed)
        return int(stop.code or 0)
    try:
        if args.verb not in ("info", "compare", "upgrade", "share"):  # need neither torch nor torchrun (fast `info`)
            from core import runtime

            runtime.init_distributed()
        _download(args)
        VERBS[args.verb].run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except (ValueError, OSError) as err:  # domain errors are ValueErrors; OSError: files the user named
        _end_progress_bars()
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    finally:
        if "torch.distributed" in sys.modules:  # joined under torchrun: leave the group
            from core import runtime

            runtime.shutdown_distributed()
    return 0
