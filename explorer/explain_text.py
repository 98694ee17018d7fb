"""The explorer's definitions and what each eval set is, as markdown (no streamlit): the app's tabs
(explorer/explain.py) and the shared offline page (explorer/share.py) show the same text."""

from __future__ import annotations

import numpy as np

from core.results import metrics

# What each of the world's sets mimics (core/worlds/); other runs show their manifest's spec instead.
SET_NOTES = {
    "id_test": "held-out images of the fine-tuning distribution (upright, filled 'photos'; 2.75% of the labels wrong): the ID set",
    "v2": "a re-collection of the photo style, turned further (up to 40°) and with a weaker shortcut, like ImageNetV2",
    "sketch": "line drawings of the shapes, like ImageNet-Sketch",
    "rendition": "art-like renditions (other colours and textures), like ImageNet-R",
    "objectnet": "turned, smaller objects on another class's background colour, like ObjectNet",
    "hard": "small, low-contrast, cluttered and noisy objects, turned up to 40°, like ImageNet-A",
}


def definitions_md(
    endpoints: tuple[str, str], fit: tuple[float, float] | None, path: tuple[np.ndarray, np.ndarray, str] | None = None
) -> str:
    """Markdown definitions of the terms on the charts; the fit's numbers when there is one, and the two barrier
    definitions worked out on `path`: (alphas, ID accuracy, the ID set's name) of the path shown."""
    fit_line = "" if fit is None else f" Here: logit(OOD) = {fit[0]:.3f} · logit(ID) {fit[1]:+.3f}."
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
        + barriers_md(path)
        + "\n\n"
        + INTERVALS_MD
    )


INTERVALS_MD = (
    "**What a 95% interval is here.** An eval set is a sample of its distribution: another sample of the same size "
    "would give other accuracies. Every ± on the tiles is a 95% interval over the set's examples. *One accuracy:* "
    'the Wilson score interval of k right out of N. *A change* (the tiles\' "vs α=0" and "vs α=1"): both '
    "accuracies are measured on the same examples, so the interval comes from resampling the examples and "
    "recomputing the difference (paired: most examples are right, or wrong, at both alphas, which makes it much "
    "narrower than two separate intervals suggest). *Within noise:* that interval contains 0, so the data do not "
    'say which way the change goes; the page then says "within noise" instead of a gain or a loss. The average '
    "over the OOD sets resamples each set on its own. The live view computes these in closed form at every α "
    "(`core.results.uncertainty`'s bands); the notebooks' sentences use the bootstrap itself "
    "(`core.results.claims.verdict`), which agrees within about 0.1 pp."
)


def barriers_md(path: tuple[np.ndarray, np.ndarray, str] | None = None) -> str:
    """The two barrier definitions with their sources and formulas, each worked out on an error curve with equal
    ends and, given `path` (alphas, ID accuracy, set name), on the path shown (core.results.metrics.barrier)."""
    toy_alphas, toy_error = np.array([0.0, 0.5, 1.0]), np.array([0.10, 0.35, 0.10])
    toy = {d: 100 * metrics.barrier(toy_error, toy_alphas, d) for d in metrics.BARRIER_DEFINITIONS}
    text = (
        "**Two barrier definitions.** A barrier says how much worse the straight path gets than its ends, for a "
        "quantity where higher is worse (error or loss), written f:\n\n"
        "- *Chord barrier* (Entezari et al., 2022; the WiSE-FT talk's Acc(θα) ≥ chord): "
        "max over α of f(θα) − [(1 − α)·f(θ0) + α·f(θ1)], the largest rise above the straight line (the *chord*) "
        "between the ends' values. The loss chart draws this one.\n"
        "- *Frankle et al.'s barrier* (2020): max over α of f(θα) − ½·[f(θ0) + f(θ1)], the worst value on the path "
        "minus the mean of the two ends. They call a pair *stable* when this error barrier is below 2%.\n\n"
        f"With equal ends the chord is flat at their value and the two agree: error {100 * toy_error[0]:g}% at both "
        f"ends and {100 * toy_error[1]:g}% at α = 0.5 gives {toy['chord']:.1f} pp and {toy['frankle']:.1f} pp."
    )
    if path is not None:
        alphas, acc, name = path
        error = 1 - np.asarray(acc, dtype=float)
        if np.isfinite(error).all():
            b = {d: 100 * metrics.barrier(error, alphas, d) for d in metrics.BARRIER_DEFINITIONS}
            ends = f"error {100 * error[0]:.1f}% at α = 0 and {100 * error[-1]:.1f}% at α = 1"
            if b["frankle"] - b["chord"] < 1:
                text += (
                    f" On this path's ID set ({name}), {ends}, the ends are close and so are the barriers: chord "
                    f"{b['chord']:.1f} pp, Frankle et al.'s {b['frankle']:.1f} pp."
                )
            else:
                below = ", although the path never rises above its chord" if b["chord"] < 0.05 else ""
                text += (
                    f" With unequal ends they part: on this path's ID set ({name}), {ends}, the chord barrier is "
                    f"{b['chord']:.1f} pp and Frankle et al.'s {b['frankle']:.1f} pp. Frankle et al.'s counts "
                    f"half the gap between the ends ({50 * abs(error[0] - error[-1]):.1f} pp) or more{below}: "
                    "their 2% criterion was made for pairs whose ends are equally good (two children of one parent)."
                )
    return text
