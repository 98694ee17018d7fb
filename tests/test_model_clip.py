import open_clip
import pytest
import torch

from core.model.clip import ModelLoadError, ModelSpec, build_zero_shot_head, load_clip, zero_shot_classifier

TEMPLATES = ["a photo of a {}.", "a drawing of a {}."]
CLASSES = ["cat", "dog", "fish"]


@pytest.fixture(scope="module")
def clip(tiny_config):
    torch.manual_seed(0)
    return load_clip(ModelSpec(str(tiny_config)))


def test_zero_shot_head_equals_open_clip_classifier_times_scale(clip):
    model, _, _, tokenizer = clip
    head = build_zero_shot_head(model, tokenizer, CLASSES, TEMPLATES)
    reference = open_clip.build_zero_shot_classifier(model, tokenizer, CLASSES, TEMPLATES)  # (D, C)
    torch.testing.assert_close(head.weight, model.logit_scale.exp() * reference.T, rtol=1e-5, atol=1e-6)
    assert torch.count_nonzero(head.bias) == 0


def test_classifier_logits_are_scaled_cosine_similarities(clip):
    model, _, _, tokenizer = clip
    classifier = zero_shot_classifier(model, tokenizer, CLASSES, TEMPLATES).eval()
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        feats = model.encode_image(images, normalize=True)
        reference = open_clip.build_zero_shot_classifier(model, tokenizer, CLASSES, TEMPLATES)
        expected = model.logit_scale.exp() * feats @ reference  # (B, C)
        torch.testing.assert_close(classifier(images), expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(classifier.features(images).norm(dim=-1), torch.ones(4))


def test_bad_model_specs_name_the_problem(tmp_path):
    with pytest.raises(ModelLoadError, match="unknown open_clip model 'ViT-Nope'"):
        load_clip(ModelSpec("ViT-Nope"))
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_clip(ModelSpec(str(tmp_path / "missing.json")))
    (tmp_path / "bad.json").write_text('{"embed_dim": 8}')
    with pytest.raises(ModelLoadError, match="lacks"):
        load_clip(ModelSpec(str(tmp_path / "bad.json")))
    with pytest.raises(ModelLoadError, match="open_clip_config.json is missing"):
        load_clip(ModelSpec(f"local-dir:{tmp_path}"))
