"""The explorer's definitions and what each eval set is, as markdown (no streamlit): the app's tabs
(explorer/explain.py) and the shared offline page (explorer/share.py) show the same text."""

from __future__ import annotations

# What each of the world's sets mimics (core/worlds/); other runs show their manifest's spec instead.
SET_NOTES = {
    "id_test": "held-out images of the fine-tuning distribution (upright, filled 'photos'; 3% of the labels wrong): the ID set",
    "v2": "a re-collection of the photo style, turned further (up to 40°) and with a weaker shortcut, like ImageNetV2",
    "sketch": "line drawings of the shapes, like ImageNet-Sketch",
    "rendition": "art-like renditions (other colours and textures), like ImageNet-R",
    "objectnet": "turned, smaller objects on another class's background colour, like ObjectNet",
    "hard": "small, low-contrast, cluttered and noisy objects, turned up to 40°, like ImageNet-A",
}


def definitions_md(endpoints: tuple[str, str], fit: tuple[float, float] | None) -> str:
    """Markdown definitions of the terms on the charts; the fit's numbers when there is one."""
    fit_line = ("" if fit is None else f" Here: logit(OOD) = {fit[0]:.3f} · logit(ID) {fit[1]:+.3f}.")
    return (
        "**ID and OOD.** *In-distribution* (ID) data look like the fine-tuning data; *out-of-distribution* (OOD) "
        "sets show the same classes under a *distribution shift* (sketches, renditions, new poses...).\n\n"
        f"**The path.** θα = (1 − α)·θ0 + α·θ1 mixes the weights of θ0 (*{endpoints[0]}*) and θ1 "
        f"(*{endpoints[1]}*): α = 0 is θ0, α = 1 is θ1. WiSE-FT takes the zero-shot and fine-tuned models.\n\n"
        "**Effective robustness (ER).** Across many standard models, OOD accuracy is almost a linear function "
        "of ID accuracy once both are put on a logit scale (Taori et al., 2020). The *fit* is that line, "
        "fitted by least squares to baseline models." + fit_line + " A model's ER is its OOD accuracy "
        "minus the fit's prediction at its ID accuracy: how much more robust it is than its ID accuracy "
        "alone predicts. It is shown only for paths that start at a zero-shot model.\n\n"
        "**Chord and barrier.** The *chord* is the straight line between the loss at α = 0 and at α = 1. "
        "The *barrier* is the largest rise of the loss along the path above that chord (Frankle et al., "
        "2020): about zero means the two weight sets are *linearly mode-connected*, which is why mixing "
        "zero-shot and fine-tuned weights works at all.")
