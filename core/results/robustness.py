"""Where each alternative to WiSE-FT lands on the effective-robustness scatter (issue 28), as plain data.

A run may ship a fine-tuning family beside its sweep: other fine-tunes of its theta_0 on its training set
(another learning rate or length, L2-SP, fewer trained blocks; core.train.variants), each evaluated on the
run's eval sets at a few alphas of its own path (1: the variant itself; 0.5: WiSE-FT applied to it):

    RUN/finetunes.json          format, config, the sets (name, spec, n), and per member: name, settings
                                (FinetuneConfig.as_record), training seconds, accuracy per set and alpha
    RUN/finetunes.safetensors   "m{i}.{set}": member i's predicted classes (A, N) on that set, in the run's
                                example order (its labels are the run's)

`scatter_points` puts them beside the from-scratch baselines (baselines.csv, the fit), WiSE-FT's curve and the
output-space ensemble's, each point with Wilson intervals and its effective robustness with a bootstrap
interval. The average OOD accuracy pools the OOD sets' examples (equal to their mean when the sets are the
same size, as the world's are).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.results import uncertainty as U
from core.results.claims import correctness
from core.results.ensembles import DEFAULT_MIX, EnsembleError, output_ensemble
from core.results.tables import baseline_trend
from core.runs.artifacts import Run, load_json
from core.runs.files import open_arrays

FAMILY_JSON, FAMILY_ARRAYS = "finetunes.json", "finetunes.safetensors"
FAMILY_FORMAT = 1


@dataclass(frozen=True)
class FamilyMember:
    """One fine-tune of the run's theta_0 under other settings, on the run's eval sets."""

    name: str
    settings: dict  # FinetuneConfig.as_record() without run control
    seconds: float | None  # training wall time (None: trained by an earlier build, not timed)
    alphas: np.ndarray  # (A,) points of the member's own path that were evaluated
    correct: dict[str, np.ndarray]  # set -> (A, N) bool


def finetune_family(run: Run) -> list[FamilyMember]:
    """The run's fine-tuning family ([] when it ships none); ValueError when its sets are not the run's."""
    path = run.path / FAMILY_JSON
    if not path.exists():
        return []
    meta = load_json(path)
    specs = {d["name"]: d.get("spec") for d in run.datasets}
    for s in meta["sets"]:
        if specs.get(s["name"], "-") != s["spec"] or int(run.dataset_info(s["name"])["n"]) != s["n"]:
            raise ValueError(f"{path}: set {s['name']!r} ({s['spec']}, {s['n']}) is not the run's; rebuild the family")
    arrays = open_arrays(run.path / FAMILY_ARRAYS)
    return [
        FamilyMember(
            m["name"],
            m["settings"],
            m["seconds"],
            np.asarray(meta["alphas"]),
            {
                s["name"]: np.asarray(arrays[f"m{i}.{s['name']}"]) == run.labels(s["name"])[None, :]
                for s in meta["sets"]
            },
        )
        for i, m in enumerate(meta["members"])
    ]


def _point(correct_id: np.ndarray, correct_ood: list[np.ndarray], trend: tuple[float, float]) -> dict:
    """ID and pooled-OOD accuracy (Wilson) and effective robustness (bootstrap), all in [0, 1], as dicts."""
    pooled = np.concatenate(correct_ood)
    return {
        "id": U.accuracy_interval(correct_id).as_dict(),
        "ood": U.accuracy_interval(pooled).as_dict(),
        "er": U.effective_robustness_interval(correct_id, pooled, trend).as_dict(),
    }


def _baseline_points(run: Run, trend: tuple[float, float]) -> list[dict]:
    """The from-scratch models of baselines.csv with intervals from their counts (hits = accuracy * n)."""
    acc = {(r["model"], r["dataset"]): r["accuracy"] for r in run.baselines()}
    sets = [run.id_dataset, *run.ood_datasets]
    out = []
    for model in dict.fromkeys(m for m, _ in acc):
        if all((model, d) in acc for d in sets):
            vec = {
                d: np.arange(int(run.dataset_info(d)["n"])) < round(acc[model, d] * int(run.dataset_info(d)["n"]))
                for d in sets
            }  # (N,) bool with the stored number of hits
            out.append({"name": model, **_point(vec[run.id_dataset], [vec[d] for d in run.ood_datasets], trend)})
    return out


def _versus_wiseft(member: FamilyMember, i: int, run: Run, wise: dict[str, np.ndarray]) -> dict:
    """The member beside WiSE-FT at the grid alpha whose ID accuracy is nearest its own: paired differences
    (member - WiSE-FT) of ID and average OOD accuracy on the same examples."""
    j = int(np.argmin(np.abs(wise[run.id_dataset].mean(axis=1) - member.correct[run.id_dataset][i].mean())))
    ood = U.mean_accuracy_difference([(wise[d][j], member.correct[d][i]) for d in run.ood_datasets])
    return {
        "alpha": float(run.alphas[j]),
        "id": U.paired_difference(wise[run.id_dataset][j], member.correct[run.id_dataset][i]).as_dict(),
        "ood": ood.as_dict(),
    }


def scatter_points(run: Run, mix: str = DEFAULT_MIX) -> dict:
    """Every point of the run's effective-robustness scatter (ID vs average OOD), for the app to draw.

    Returns {"trend": {slope, intercept, n_models}, "id_set", "ood_sets", "baselines": [{name, id, ood, er}],
    "wiseft" / "ensemble": [{alpha, id, ood, er}] along the grid (the ensemble mixing `mix`),
    "finetunes": [{name, alpha, settings, seconds, id, ood, er, vs_wiseft: {alpha, id, ood}}], "notes": why a
    part is empty (an ensemble without stored logits)}; every id / ood / er is {value, lo, hi} in [0, 1] (95%);
    vs_wiseft holds paired differences (fine-tune - WiSE-FT) at the grid alpha of nearest ID accuracy.
    ValueError when the run has no baselines to fit.
    """
    if not run.baselines():
        raise ValueError(f"{run.name} ships no baselines.csv: effective robustness needs the baseline models' fit")
    trend = baseline_trend(run)
    sets = [run.id_dataset, *run.ood_datasets]
    wise = {d: correctness(run, d) for d in sets}  # (A, N)
    try:
        ens, notes = {d: output_ensemble(run, d, mix).correct for d in sets}, []
    except EnsembleError as err:  # e.g. swept with --reductions-only: the other points still stand
        ens, notes = None, [str(err)]

    def curve(c: dict[str, np.ndarray] | None) -> list[dict]:
        return (
            []
            if c is None
            else [
                {"alpha": float(a), **_point(c[run.id_dataset][i], [c[d][i] for d in run.ood_datasets], trend)}
                for i, a in enumerate(run.alphas)
            ]
        )

    family = []
    for m in finetune_family(run):
        for i, a in enumerate(m.alphas):
            family.append(
                {
                    "name": m.name,
                    "alpha": float(a),
                    "settings": m.settings,
                    "seconds": m.seconds,
                    **_point(m.correct[run.id_dataset][i], [m.correct[d][i] for d in run.ood_datasets], trend),
                    "vs_wiseft": _versus_wiseft(m, i, run, wise),
                }
            )
    return {
        "trend": {"slope": trend[0], "intercept": trend[1], "n_models": len(_baseline_points(run, trend))},
        "id_set": run.id_dataset,
        "ood_sets": run.ood_datasets,
        "baselines": _baseline_points(run, trend),
        "wiseft": curve(wise),
        "ensemble": curve(ens),
        "mix": mix,
        "finetunes": family,
        "notes": notes,
    }


def flat_rows(points: dict) -> list[dict]:
    """scatter_points as one flat row per point (kind, name, alpha, id, id_lo, id_hi, ood, ..., er_hi), for a
    CSV or a DataFrame; kind is 'baseline', 'WiSE-FT', 'output-space ensemble' or 'fine-tune'."""
    kinds = (
        ("baselines", "baseline"),
        ("wiseft", "WiSE-FT"),
        ("ensemble", "output-space ensemble"),
        ("finetunes", "fine-tune"),
    )
    rows = []
    for key, kind in kinds:
        for p in points[key]:
            row = {"kind": kind, "name": p.get("name", kind), "alpha": p.get("alpha", float("nan"))}
            for k in ("id", "ood", "er"):
                row |= {k: p[k]["value"], f"{k}_lo": p[k]["lo"], f"{k}_hi": p[k]["hi"]}
            rows.append(row)
    return rows
