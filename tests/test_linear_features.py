"""Linear-classifier fine-tuning streams frozen features to disk (issue 11.5): float16, memory-mapped,
with the identity of what they came from, resumable chunk by chunk; the trained head equals the one
trained from today's in-memory float32 features."""

import numpy as np
import pytest
import torch

from conftest import copy_run
from core import runtime
from core.data.registry import get_dataset
from core.model.clip import transforms_from_cfg
from core.model.evaluate import decode, predict
from core.runs.weights import load_classifier, load_weights
from core.train.features import extract_features
from core.train.finetune import FinetuneConfig, epoch_plan, finetune, train_loop

CFG = FinetuneConfig(mode="linear-classifier", epochs=3, batch_size=16, warmup_steps=1, lr=1e-2)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def train(folders):
    return get_dataset(f"folder:{folders['train']}")


def in_memory_features(run, train):
    """Today's path: decode every training image into one tensor, then the frozen encoder."""
    classifier, pp = load_classifier(run, "zeroshot")
    x = decode(train, transforms_from_cfg(pp)[1], np.arange(len(train)))  # (N, 3, H, W)
    return predict(classifier.features, x, 256, CPU)  # (N, D) float32


def test_streamed_head_equals_the_in_memory_path(zeroshot_run, train, tmp_path):
    run = finetune(copy_run(zeroshot_run, tmp_path / "stream"), train, CFG).parents[1]
    stored = [np.load(p, mmap_mode="r") for p in (run / "checkpoints").glob("features-*/features.npy")]
    assert len(stored) == 1 and stored[0].dtype == np.float16 and stored[0].shape == (48, 32)
    feats = in_memory_features(zeroshot_run, train)
    np.testing.assert_allclose(stored[0].astype(np.float32), feats.numpy(), rtol=0, atol=1e-3)

    # the same loop over the in-memory float32 features (the pre-streaming path)
    reference = copy_run(zeroshot_run, tmp_path / "memory")
    classifier, _ = load_classifier(reference, "zeroshot")
    classifier.image_encoder.requires_grad_(False)
    labels = torch.as_tensor(train.labels)

    def batches(epoch, offset):
        idx = epoch_plan(len(train), epoch, CFG)[0][offset * 16 :]
        for s in range(0, len(idx), 16):
            b = torch.as_tensor(idx[s : s + 16])
            yield feats[b], labels[b]

    train_loop(classifier, classifier.head, batches, len(train), CFG, reference, CPU, {}, None)
    streamed = load_weights(run / "weights/finetuned.safetensors")
    start = load_weights(zeroshot_run / "weights/zeroshot.safetensors")["head.weight"]
    moved = (classifier.head.weight - start).abs().max().item()
    diff = (streamed["head.weight"] - classifier.head.weight).abs().max().item()
    # measured: the head moved 0.087 and the two heads differ by 1.3e-5 (float16 storage only)
    assert moved > 1e-2 and diff <= 1e-3 * moved, (diff, moved)
    with torch.no_grad():
        ours = feats @ streamed["head.weight"].T + streamed["head.bias"]
        theirs = classifier.head(feats)
    assert torch.equal(ours.argmax(-1), theirs.argmax(-1))


@pytest.mark.slow
def test_extraction_resumes_chunk_by_chunk(zeroshot_run, train, tmp_path):
    classifier, pp = load_classifier(zeroshot_run, "zeroshot")
    val_tf = transforms_from_cfg(pp)[1]
    ident = {"test": 1}
    seen = []

    def killed_after_two_chunks(x):
        if len(seen) == 2:
            raise KeyboardInterrupt("killed")
        seen.append(len(x))
        return classifier.features(x)

    with pytest.raises(KeyboardInterrupt):
        extract_features(tmp_path / "f", ident, killed_after_two_chunks, train, val_tf, CPU, chunk=16)
    assert not (tmp_path / "f" / "features.npy").exists()
    seen.clear()

    def counting(x):
        seen.append(len(x))
        return classifier.features(x)

    resumed = extract_features(tmp_path / "f", ident, counting, train, val_tf, CPU, chunk=16)
    assert seen == [16]  # only the third chunk was computed
    fresh = extract_features(tmp_path / "g", ident, classifier.features, train, val_tf, CPU, chunk=16)
    assert np.array_equal(resumed, fresh) and runtime.world_size() == 1
    seen.clear()
    extract_features(tmp_path / "f", ident, counting, train, val_tf, CPU, chunk=16)
    assert seen == []  # finished and same identity: reused
    extract_features(tmp_path / "f", {"test": 2}, counting, train, val_tf, CPU, chunk=16)
    assert sum(seen) == 48  # another identity: recomputed
