"""The sweep's stored logits equal a model interpolated on the fly and run directly."""

import numpy as np
import pytest
import torch

from core.data.registry import get_dataset
from core.model.clip import transforms_from_cfg
from core.model.evaluate import decode, predict
from core.runs.artifacts import Run
from core.runs.weights import load_classifier, load_weights
from core.wiseft.interpolate import interpolate

# Both sides run the same float32 CPU forward on the same decoded images; the sweep writes its
# weights in place (lerp) while this test builds them with interpolate(): equal up to rounding.
ATOL = 1e-4


def direct_logits(run_dir, dataset: str, alpha: float) -> np.ndarray:
    model, pp_cfg = load_classifier(run_dir, "zeroshot")
    theta = interpolate(
        load_weights(run_dir / "weights/zeroshot.safetensors"),
        load_weights(run_dir / "weights/finetuned.safetensors"),
        alpha,
    )
    model.load_state_dict(theta)
    images = get_dataset(dataset)
    x = decode(images, transforms_from_cfg(pp_cfg)[1], np.arange(len(images)))
    return predict(model.eval(), x, 64, torch.device("cpu")).numpy()


@pytest.mark.parametrize("which", ["e2e_run", "lc_run"])
def test_grid_logits_equal_on_the_fly_interpolation(request, which, folders):
    run_dir = request.getfixturevalue(which)
    run = Run(run_dir)
    for name, folder in (("val", folders["val"]), ("shift", folders["shift"])):
        for alpha in run.alphas:
            np.testing.assert_allclose(
                run.logits(name, alpha), direct_logits(run_dir, f"folder:{folder}", alpha), atol=ATOL, rtol=1e-4
            )


def test_linear_classifier_run_is_exact_off_the_grid(lc_run, folders):
    run = Run(lc_run)
    assert run.linear_in_alpha and "logits_0" in run._load("val")
    for alpha in (0.37, 1.3):  # not grid points; 1.3 extrapolates
        np.testing.assert_allclose(
            run.logits("val", alpha), direct_logits(lc_run, f"folder:{folders['val']}", alpha), atol=ATOL, rtol=1e-4
        )


def test_end_to_end_run_refuses_off_grid_alpha(e2e_run):
    run = Run(e2e_run)
    assert not run.linear_in_alpha
    with pytest.raises(ValueError, match="not on this run's grid"):
        run.logits("val", 0.37)


def test_only_the_head_changes_in_a_linear_classifier_fine_tune(lc_run):
    t0 = load_weights(lc_run / "weights/zeroshot.safetensors")
    t1 = load_weights(lc_run / "weights/finetuned.safetensors")
    changed = [k for k in t0 if not torch.equal(t0[k], t1[k])]
    assert changed and all(k.startswith("head.") for k in changed)
