"""Real-CLIP parity, checked by construction and offline (issue 11, items 1 and 2, and the parity
tests): for every (model, pretrained tag) pair that the presets, the README and docs/*.md (the
command line, reproduce.md) name, the model this project builds and saves has the architecture and preprocessing that open_clip's
registry gives that pair. Nothing is downloaded: open_clip's download is stubbed and models are built
at random init (`load_weights=False`)."""

import re

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU
from PIL import Image
from torch import nn

from conftest import REPO
from core.model.clip import (
    ImageClassifier,
    ModelSpec,
    empty_classifier,
    load_clip,
    save_arch,
    transforms_from_cfg,
    zero_shot_classifier,
)
from core.train.presets import _PRESETS


def named_pairs() -> list[tuple[str, str]]:
    pairs = {(p.model, p.pretrained) for p in _PRESETS.values()}
    for doc in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))):
        text = doc.read_text()
        pairs |= set(re.findall(r"--model (\S+) --pretrained (\S+)", text))
    return sorted(pairs)


PAIRS = named_pairs()


@pytest.fixture
def no_download(monkeypatch):
    """open_clip resolves the tag (preprocessing, file name) but fetches nothing."""
    monkeypatch.setattr(open_clip.factory, "download_pretrained", lambda *a, **k: "/nonexistent/weights.pt")


IMAGE = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))


def same_brackets(text: str) -> str:
    return text.replace("[", "(").replace("]", ")")


def plain(cfg: dict) -> dict:
    """A preprocess config with JSON's lists read back as tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}


def activations(module: nn.Module) -> list[str]:
    return [type(m).__name__ for m in module.modules() if isinstance(m, (nn.GELU, QuickGELU))]


def test_pairs_cover_presets_and_docs():
    assert ("ViT-B-16", "openai") in PAIRS and ("ViT-L-14-336", "openai") in PAIRS
    assert all(open_clip.get_pretrained_cfg(name, tag) for name, tag in PAIRS), "a named tag is unknown"


@pytest.mark.slow
@pytest.mark.parametrize("name,tag", PAIRS)
def test_built_and_saved_model_matches_open_clips_registry(name, tag, no_download, tmp_path):
    tag_cfg = open_clip.get_pretrained_cfg(name, tag)
    torch.manual_seed(0)
    ref, ref_train, ref_val = open_clip.create_model_and_transforms(
        name, pretrained=tag, load_weights=False, force_quick_gelu=tag_cfg.get("quick_gelu", False)
    )
    expect = {
        "acts": activations(ref.visual),
        "pp": dict(ref.visual.preprocess_cfg),
        "val": ref_val(IMAGE),
        "train": same_brackets(repr(ref_train)),
        "shapes": {k: v.shape for k, v in ref.visual.state_dict().items()},
        "scale": ref.logit_scale.exp().item(),
    }
    del ref
    spec = ModelSpec(name, tag)
    model, _, _, tokenizer = load_clip(spec, load_weights=False)
    save_arch(spec, model, tmp_path / "model")
    head = zero_shot_classifier(model, tokenizer, ["cat", "dog"], ["a photo of a {}."]).head
    del model
    classifier, pp = empty_classifier(tmp_path / "model", 2)

    # activation: the tag's (QuickGELU for OpenAI weights), in every block of the saved model
    assert set(expect["acts"]) == {"QuickGELU" if tag_cfg.get("quick_gelu") else "GELU"}
    assert activations(classifier.image_encoder) == expect["acts"]
    assert {k: v.shape for k, v in classifier.image_encoder.state_dict().items()} == expect["shapes"]
    # preprocessing: size, mean/std, resize mode and interpolation as open_clip has them for the tag
    assert plain(pp) == plain(expect["pp"])
    for key in ("mean", "std", "interpolation", "resize_mode"):
        if key in tag_cfg:
            as_tuple = key in ("mean", "std")
            assert (tuple(pp[key]) if as_tuple else pp[key]) == tag_cfg[key], key
    assert pp["size"] == (open_clip.get_model_config(name)["vision_cfg"]["image_size"],) * 2
    train_tf, val_tf = transforms_from_cfg(pp)
    assert torch.equal(val_tf(IMAGE), expect["val"])
    assert same_brackets(repr(train_tf)) == expect["train"]  # random resized crop: scale, interpolation
    # logit scale: the zero-shot head's rows are unit text embeddings times logit_scale.exp()
    torch.testing.assert_close(head.weight.norm(dim=-1), torch.full((2,), expect["scale"]))
    assert torch.count_nonzero(head.bias) == 0


@pytest.mark.slow
def test_openai_tag_builds_quick_gelu_before_any_weights(no_download):
    model = load_clip(ModelSpec("ViT-B-16", "openai"), load_weights=False)[0]
    assert set(activations(model)) == {"QuickGELU"}
    model = load_clip(ModelSpec("ViT-B-16"), load_weights=False)[0]  # no tag: open_clip's default GELU
    assert set(activations(model)) == {"GELU"}


@pytest.mark.slow
def test_same_preprocessing_output_as_open_clip(no_download, tmp_path):
    name, tag = "ViT-B-16", "openai"
    _, _, ref_val = open_clip.create_model_and_transforms(name, pretrained=tag, load_weights=False)
    model = load_clip(ModelSpec(name, tag), load_weights=False)[0]
    save_arch(ModelSpec(name, tag), model, tmp_path / "model")
    _, pp = empty_classifier(tmp_path / "model", 2)
    assert torch.equal(transforms_from_cfg(pp)[1](IMAGE), ref_val(IMAGE))


def test_head_and_softmax_run_in_float32_under_bf16_autocast(tiny_config):
    torch.manual_seed(0)
    model, _, _, tokenizer = load_clip(ModelSpec(str(tiny_config)))
    classifier: ImageClassifier = zero_shot_classifier(model, tokenizer, ["cat", "dog", "fish"], ["a {}."]).eval()
    images = torch.randn(8, 3, 32, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = classifier(images)  # (8, 3)
        encoded = classifier.image_encoder(images)  # (8, D) bf16: the tower itself runs in bf16
    assert encoded.dtype == torch.bfloat16 and logits.dtype == torch.float32
    feats = F.normalize(encoded.float(), dim=-1)  # (8, D)
    expected = feats @ classifier.head.weight.T + classifier.head.bias  # (8, 3) float32 reference
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5)
