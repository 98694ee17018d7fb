"""The embedded world's machinery: generator, tokenizer, dataset ids, and `make world` in quick mode."""

import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from core.data.registry import get_dataset, open_example
from core.model.clip import ModelSpec, load_clip
from core.model.tokenizer import WordTokenizer
from core.runs.artifacts import Run, weights_file
from core.worlds import shapes, styles
from core.worlds.build.config import OOD_SPLITS
from core.worlds.pretrain import caption_targets


@pytest.mark.parametrize("split", shapes.SPLITS)
def test_make_split_equals_rendering_each_example(split):
    images, labels, captions = shapes.make_split(split, 6, seed=3, workers=1)
    for i in range(6):
        image, label, caption = shapes.render(split, i, seed=3)
        assert np.array_equal(images[i], image) and labels[i] == label and captions[i] == caption
    assert images.shape == (6, shapes.SIZE, shapes.SIZE, 3) and images.dtype == np.uint8


def test_alt_text_never_names_the_classes_zero_shot_cannot_learn():
    _, _, captions = shapes.make_split("pretrain", 400, workers=1)
    alt_words = {w.rstrip(".") for c in captions for w in styles.alt_text(c).split()}
    assert alt_words.isdisjoint(styles.ALT_TEXT_WORDS) and set(styles.ALT_TEXT_WORDS.values()) <= alt_words
    shape_targets = caption_targets(captions)["shape"]  # stage A (image tower) still learns every class
    for name in styles.ALT_TEXT_WORDS:
        assert (shape_targets == shapes.CLASSNAMES.index(name)).sum() > 10


def test_world_ids_regenerate_their_images():
    sketch = get_dataset("world:sketch:20")
    assert sketch.name == "sketch" and sketch.ids[7] == "world:sketch/7"
    assert np.array_equal(np.asarray(open_example(sketch.ids[7])), np.asarray(sketch.get_image(7)))


def test_word_tokenizer_round_trip_and_eot_is_the_largest_id(tmp_path):
    tok = WordTokenizer.from_texts(["a photo of a star.", "a sketch of a red moon"], context_length=8)
    ids = tok(["a photo of a moon."])
    assert ids.shape == (1, 8) and ids.dtype == torch.long
    assert int(ids.argmax()) == int((ids > 0).sum()) - 1  # open_clip pools the text tower at argmax
    tok.save(tmp_path / "vocab.json")
    assert torch.equal(WordTokenizer.load(tmp_path / "vocab.json")(["a photo of a moon."]), ids)


@pytest.mark.slow
def test_quick_world_builds_every_shipped_run(quick_world, capsys):
    b, times = quick_world
    assert set(times) >= {"pretrain", "world-e2e", "world-lc", "baselines"}
    for name in ("world-e2e", "world-lc", "lmc-finetunes", "lmc-scratch", "lmc-shared-start"):
        run = Run(b.runs / name)
        assert run.dataset_names == ["id_test", *OOD_SPLITS]
        assert weights_file(run.path, "finetuned", run.manifest).is_file()
        assert len({r["model"] for r in run.baselines()}) == 2 + len(b.baselines)
        run_cli("info", "--run", run.path)
        assert "avg_ood" in capsys.readouterr().out
    assert Run(b.runs / "world-lc").linear_in_alpha
    assert Run(b.runs / "lmc-scratch").endpoints[0].startswith("from scratch")
    assert "lab align" in times and (b.out / "world" / "lab" / "align.json").is_file()  # issue 15.3: the lab step


@pytest.mark.slow
def test_the_world_model_classifies_zero_shot_through_open_clip(quick_world):
    b, _ = quick_world
    model, _, preprocess, tokenizer = load_clip(ModelSpec(f"local-dir:{b.model_dir}"))
    config = json.loads((b.model_dir / "open_clip_config.json").read_text())
    assert config["model_cfg"]["text_cfg"]["vocab_size"] == tokenizer.vocab_size
    with torch.no_grad():
        text = model.encode_text(tokenizer([f"a photo of a {c}." for c in shapes.CLASSNAMES]))
    assert text.shape == (len(shapes.CLASSNAMES), config["model_cfg"]["embed_dim"])
