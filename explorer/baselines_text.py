"""What the baselines say (issue 28), in sentences and rows computed from core.results.robustness.scatter_points
and core.results.ensembles.ensemble_rows (no plotting, no streamlit): the app's Baselines tab, the lesson's
step and notebook 07 print these, so a word such as "below" always follows the sign of its 95% interval.

A fine-tune is compared with WiSE-FT at the grid alpha whose ID accuracy is nearest its own (a paired
difference of average OOD accuracy over the same examples); the output-space ensemble at the same alpha.
"""

from __future__ import annotations

from core.results.claims import format_pp
from core.results.ensembles import INFERENCE_PASSES
from core.results.uncertainty import Interval
from explorer.numbers import pct

WHERE = {1: "above WiSE-FT", -1: "below WiSE-FT", 0: "within noise of WiSE-FT"}
MIXED = {"logits": "logits", "probs": "probabilities"}  # core.results.ensembles.MIXES, in words


INTRO = (
    "Could a gentler fine-tune, or averaging the two models' outputs, do what WiSE-FT does? Six other fine-tunes of "
    "the same θ0 (a smaller learning rate, fewer epochs, an L2 pull toward θ0, only the last blocks trained) and the "
    "output-space ensemble of the two ends ((1 − α)·f0(x) + α·f1(x), mixing their logits or probabilities: two "
    "forward passes per image) beside "
    "WiSE-FT's curve, on the effective-robustness scatter (left) and zoomed on the fine-tuned corner (right)."
)


def interval(d: dict) -> Interval:
    return Interval(d["value"], d["lo"], d["hi"])


def settings_text(settings: dict, recipe: dict | None = None) -> str:
    """What a variant changed, e.g. 'lr 0.0005' (the settings that differ from `recipe`, when given)."""
    keys = ("lr", "epochs", "l2_to_init", "train_last_k", "weight_decay")
    return ", ".join(
        f"{k} {settings[k]:g}" if isinstance(settings.get(k), float) else f"{k} {settings[k]}"
        for k in keys
        if k in settings and settings[k] is not None and (recipe is None or settings[k] != recipe.get(k))
    )


def family_rows(points: dict, alpha: float = 1.0) -> list[dict]:
    """One row per fine-tuning variant at `alpha` of its own path: its ID and average OOD accuracy, its
    effective robustness, and its average OOD accuracy minus WiSE-FT's at the grid alpha of nearest ID
    accuracy, with the verdict that interval supports ('below WiSE-FT', 'within noise of WiSE-FT', ...)."""
    rows = []
    for f in points["finetunes"]:
        if abs(f["alpha"] - alpha) > 1e-9:
            continue
        er, vs = interval(f["er"]).scaled(100), interval(f["vs_wiseft"]["ood"])
        rows.append(
            {
                "variant": f["name"],
                "ID": pct(f["id"]["value"]),
                "avg OOD": pct(f["ood"]["value"]),
                "effective robustness": f"{er.value:+.1f} pp [{er.lo:+.1f}, {er.hi:+.1f}]",
                "WiSE-FT at": f"α {f['vs_wiseft']['alpha']:.2f}",
                "OOD vs WiSE-FT": format_pp(vs),
                "verdict": WHERE[vs.sign],
                "sign": vs.sign,
                "difference": vs.value,
            }
        )
    return rows


def ensemble_verdicts(rows: list[dict], ood_sets: list[str]) -> list[tuple[float, Interval]]:
    """(alpha, ensemble - WiSE-FT on average OOD accuracy) along the grid, from ensemble_rows: its avg_ood rows,
    or the one OOD set's when the run has one."""
    name = "avg_ood" if len(ood_sets) > 1 else ood_sets[0] if ood_sets else None
    return [(r["alpha"], r["difference"]) for r in rows if r["dataset"] == name]


def spans(alphas: list[float], grid: list[float]) -> str:
    """Grid alphas as runs of neighbours: [0.2, 0.25, 0.3, 0.7] on a 0.05 grid is 'α 0.20-0.30 and 0.70'."""
    idx = sorted(grid.index(a) for a in alphas)
    runs: list[list[int]] = []
    for i in idx:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts = [f"{grid[r[0]]:.2f}" + (f"–{grid[r[-1]]:.2f}" if len(r) > 1 else "") for r in runs]
    return "α " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])


def summary_md(points: dict, ens_rows: list[dict]) -> str:
    """The Baselines view's text: where the fine-tunes land against WiSE-FT's curve, where the output-space
    ensemble is above or below WiSE-FT, and what each costs at inference."""
    out = []
    if rows := family_rows(points):
        names = {s: ", ".join(r["variant"] for r in rows if r["sign"] == s) for s in (-1, 0, 1)}
        count = {s: sum(r["sign"] == s for r in rows) for s in (-1, 0, 1)}
        said: list[str] = []
        curve = "WiSE-FT's curve"  # named once, then "it"
        for s, verb in ((-1, "land below"), (0, "are within noise of"), (1, "land above")):
            if count[s]:
                said.append(f"{count[s]} {verb} {'it' if said else curve} ({names[s]})")
        best = max(rows, key=lambda r: r["difference"])
        out.append(
            f"**Tuning the fine-tune.** Of {len(rows)} other fine-tunes of the zero-shot model, "
            + "; ".join(said)
            + f". Compared at equal ID accuracy, the best is {best['variant']}: {best['OOD vs WiSE-FT']} average OOD, "
            + ("so none beats mixing the weights." if not count[1] else "so tuning the fine-tune can beat it here.")
        )
    diffs = [(a, d) for a, d in ensemble_verdicts(ens_rows, points["ood_sets"]) if 0 < a < 1]
    if diffs and all(d.lo == d.hi == 0 for _, d in diffs):
        out.append(
            f"**Ensembling the outputs.** Mixing the two models' {MIXED[points['mix']]} gives exactly WiSE-FT's predictions "
            "at every alpha here: a fine-tuned linear classifier's logits are linear in its head's weights, so for it "
            "the two ensembles are one, and WiSE-FT gets them in one forward pass instead of "
            f"{INFERENCE_PASSES['output-space ensemble']}."
        )
    elif diffs:
        grid = [a for a, _ in diffs]
        above, below = [a for a, d in diffs if d.sign > 0], [a for a, d in diffs if d.sign < 0]
        ood = "average OOD" if len(points["ood_sets"]) > 1 else points["ood_sets"][0]
        top, low = max(diffs, key=lambda t: t[1].value), min(diffs, key=lambda t: t[1].value)
        said = [
            f"above WiSE-FT's {ood} accuracy at {spans(above, grid)} (at most {format_pp(top[1])}, α {top[0]:.2f})"
            if above
            else f"never above WiSE-FT's {ood} accuracy",
            f"below it at {spans(below, grid)} (down to {format_pp(low[1])}, α {low[0]:.2f})"
            if below
            else "never below it",
        ]
        noise = len(diffs) - len(above) - len(below)
        out.append(
            f"**Ensembling the outputs.** Mixing the two models' {MIXED[points['mix']]} costs "
            f"{INFERENCE_PASSES['output-space ensemble']} forward passes per image (WiSE-FT: "
            f"{INFERENCE_PASSES['WiSE-FT']}). Between the ends it is "
            + ", ".join(said)
            + (f", and within noise at the other {noise} alphas." if noise and (above or below) else ".")
        )
    elif not points["ensemble"]:
        out.append("**Ensembling the outputs.** " + " ".join(points["notes"]))
    return "\n\n".join(out)
