"""The WiSE-FT model at a chosen alpha, written as a folder that plain open_clip loads:
`python -m core export --run RUN --alpha 0.5 --out DIR`.

    DIR/open_clip_config.json         the run's architecture (model_cfg + preprocess_cfg, copied from
                                      RUN/model/open_clip_config.json) and a "wiseft" entry: run, alpha,
                                      class names, where the text tower came from
    DIR/open_clip_model.safetensors   a full CLIP state dict: the image tower theta_alpha, the text tower
                                      (and logit scale) of the run's base model, unchanged by fine-tuning
    DIR/classifier_head.safetensors   the class head theta_alpha: weight (C, D), bias (C,), applied to
                                      L2-normalised image features
    DIR/README.md                     a ten-line snippet (open_clip + torch, no `core`) that classifies an image

`open_clip.create_model_from_pretrained("local-dir:DIR")` loads the CLIP model with its eval transform;
the head is a separate tensor because a CLIP state dict has no place for it (open_clip loads its
checkpoint strictly). Rejected: an image-tower-only checkpoint (open_clip's local-dir loader picks up
any *.safetensors in DIR and refuses a partial one) and a random text tower (it would load, and
silently give nonsense zero-shot heads).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from core.model.clip import ModelLoadError, ModelSpec, load_clip
from core.runs.artifacts import Run, atomic_write_json
from core.runs.files import check_writable
from core.runs.weights import load_weights, save_weights
from core.wiseft.interpolate import interpolate
from core.wiseft.predict import check_alpha, check_variances, require_finetuned

REPO = Path(__file__).resolve().parents[2]
CONFIG = "open_clip_config.json"
CLIP_WEIGHTS = "open_clip_model.safetensors"  # the name open_clip's local-dir loader prefers
HEAD_WEIGHTS = "classifier_head.safetensors"

SNIPPET = """\
import json, sys
import open_clip, torch
from PIL import Image
from safetensors.torch import load_file

DIR = {dir!r}
model, preprocess = open_clip.create_model_from_pretrained(f"local-dir:{{DIR}}")
model.eval()
head = load_file(f"{{DIR}}/{head}")  # weight (C, D), bias (C,)
classnames = json.load(open(f"{{DIR}}/{config}"))["wiseft"]["classnames"]
image = preprocess(Image.open(sys.argv[1]).convert("RGB"))[None]  # (1, 3, H, W)
with torch.no_grad():
    logits = model.encode_image(image, normalize=True) @ head["weight"].T + head["bias"]  # (1, C)
for p, i in zip(*logits.softmax(-1)[0].topk(min(3, len(classnames)))):
    print(f"{{classnames[i]}}: {{p:.3f}}")
"""


def _text_tower(run: Run) -> tuple[dict[str, torch.Tensor], str]:
    """Every non-image tensor of the run's base CLIP model (text tower, logit scale), and its source.
    A random-init model is built under the run's seed, as `zeroshot` built it: the export is a function
    of the run, and its text tower is the one the run's zero-shot head was made with."""
    model = run.manifest["model"]
    spec = ModelSpec(model["name"], model.get("pretrained"))
    if spec.local_dir is not None and not spec.local_dir.is_absolute() and not spec.local_dir.is_dir():
        spec = ModelSpec(f"local-dir:{REPO / spec.local_dir}")  # shipped runs name it from the repo root
    try:
        with torch.random.fork_rng(devices=[]):  # the caller's RNG state is left as it was
            torch.manual_seed(int(run.manifest.get("seed", 0)))  # core.runs.create.create_zeroshot_run's seeding
            clip = load_clip(spec)[0]
    except (ModelLoadError, RuntimeError, OSError) as err:
        raise ValueError(
            f"cannot load the run's base model {spec.name} ({spec.pretrained or 'no tag'}) for its text "
            f"tower: {str(err).splitlines()[0]}; make it available offline (open_clip cache or path) "
            "and export again"
        ) from err
    state = {k: v for k, v in clip.state_dict().items() if not k.startswith("visual.")}
    weighted = spec.pretrained or (spec.local_dir is not None and any(spec.local_dir.glob("*.safetensors")))
    source = f"{spec.name}" + (f" ({spec.pretrained})" if spec.pretrained else "")
    return state, source if weighted else f"{source}: random init (the base model has no pretrained weights)"


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not empty; choose a new --out or delete it first")


def _readable(folder: Path) -> None:
    """The permissions a plain mkdir / open would give (temp files are created private)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def export_model(run: Run, alpha: float, out: Path) -> Path:
    """Write theta_alpha of `run` to `out` (see the module docstring); `out` must not exist or be empty.

    Returns out. The folder appears whole or not at all (written to a temp folder, then renamed).
    """
    out = Path(out)
    alpha = check_alpha(alpha)
    _check_out(out)
    check_writable(out)
    require_finetuned(run)
    theta_0, theta_1 = load_weights(run.weights_path("zeroshot")), load_weights(run.weights_path("finetuned"))
    check_variances(theta_0, theta_1, [alpha])
    theta = interpolate(theta_0, theta_1, alpha)
    text, source = _text_tower(run)
    clip_state = {
        **text,
        **{"visual." + k.removeprefix("image_encoder."): v for k, v in theta.items() if k.startswith("image_encoder.")},
    }
    config = json.loads((run.path / run.manifest["model"]["arch"] / CONFIG).read_text())
    config["wiseft"] = {
        "run": str(run.path),
        "name": run.name,
        "alpha": alpha,
        "endpoints": list(run.endpoints),
        "classnames": run.classnames,
        "text_tower": source,
        "head": HEAD_WEIGHTS,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        save_weights(tmp / CLIP_WEIGHTS, clip_state, meta={"wiseft_alpha": alpha})
        save_weights(tmp / HEAD_WEIGHTS, {"weight": theta["head.weight"], "bias": theta["head.bias"]})
        atomic_write_json(tmp / CONFIG, config)
        (tmp / "README.md").write_text(readme(run, alpha, out))
        _readable(tmp)
        _check_out(out)
        os.replace(tmp, out)  # atomic; replaces an empty folder
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def snippet(out: Path) -> str:
    """The README's code: load DIR with open_clip and print the top classes of the image in argv[1]."""
    return SNIPPET.format(dir=str(Path(out).resolve()), head=HEAD_WEIGHTS, config=CONFIG)


def readme(run: Run, alpha: float, out: Path) -> str:
    return (
        f"# WiSE-FT model: run {run.name}, alpha {alpha:g}\n\n"
        f"theta_alpha = (1 - alpha) * theta_0 + alpha * theta_1, with theta_0 = {run.endpoints[0]} and "
        f"theta_1 = {run.endpoints[1]} (written by `python -m core export`).\n"
        f"{len(run.classnames)} classes: {', '.join(run.classnames[:20])}"
        f"{' ...' if len(run.classnames) > 20 else ''}.\n\n"
        "Classify an image with open_clip and torch only (`python classify.py IMAGE`):\n\n"
        f"```python\n{snippet(out)}```\n"
    )


def readme_snippet(readme_text: str) -> str:
    """The python code block of an exported README (tests run exactly this)."""
    return readme_text.split("```python\n", 1)[1].split("```", 1)[0]
