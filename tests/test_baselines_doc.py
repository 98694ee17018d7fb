"""Issue 28's numbers as docs/world.md and the README print them, recomputed from the shipped world-e2e run:
the fine-tuning family (finetunes.json / .safetensors, built by `make world`) against WiSE-FT's curve, and
the output-space ensemble of the two ends against WiSE-FT at the same alpha."""

from pathlib import Path

import pytest

from core.results.claims import format_pp
from core.results.uncertainty import Interval
from core.runs.artifacts import Run
from explorer.baselines_text import WHERE

REPO = Path(__file__).resolve().parents[1]
E2E = REPO / "data" / "runs" / "world-e2e"
pytestmark = pytest.mark.skipif(not (E2E / "finetunes.json").is_file(), reason="no shipped fine-tuning family")


def _iv(d: dict) -> Interval:
    return Interval(d["value"], d["lo"], d["hi"])


def family_rows() -> list[str]:
    """docs/world.md's table rows: each variant at alpha 1, and its paired average-OOD difference to WiSE-FT at
    the grid alpha of nearest ID accuracy, with the verdict the interval supports."""
    from core.results.robustness import scatter_points

    rows = []
    for f in scatter_points(Run(E2E))["finetunes"]:
        if f["alpha"] != 1.0:
            continue
        v = _iv(f["vs_wiseft"]["ood"])
        verdict = WHERE[v.sign]  # the words the app and notebook 07 use
        rows.append(
            f"| {f['name']} | {100 * f['id']['value']:.1f} | {100 * f['ood']['value']:.1f} | "
            f"{100 * f['er']['value']:+.1f} [{100 * f['er']['lo']:+.1f}, {100 * f['er']['hi']:+.1f}] | "
            f"{f['vs_wiseft']['alpha']:g} | {format_pp(v)} | {verdict} |"
        )
    return rows


def ensemble_rows(alphas=(0.2, 0.4, 0.5, 0.6, 0.8)) -> list[str]:
    """docs/world.md's ensemble rows: average OOD accuracy of WiSE-FT and of the logit ensemble at one alpha."""
    from core.results.ensembles import ensemble_rows as rows_of

    out = []
    for r in rows_of(Run(E2E), "logits"):
        if r["dataset"] == "avg_ood" and any(abs(r["alpha"] - a) < 1e-9 for a in alphas):
            d = r["difference"]
            verdict = "ensemble above" if d.sign > 0 else "ensemble below" if d.sign < 0 else "within noise"
            out.append(
                f"| {r['alpha']:g} | {100 * r['wiseft'].value:.1f} | {100 * r['ensemble'].value:.1f} | "
                f"{format_pp(d)} | {verdict} |"
            )
    return out


def test_world_doc_prints_the_family_as_computed():
    text = (REPO / "docs" / "world.md").read_text()
    for row in family_rows():
        assert row in text, row


def test_world_doc_prints_the_ensemble_as_computed():
    text = (REPO / "docs" / "world.md").read_text()
    for row in ensemble_rows():
        assert row in text, row


def test_readme_baselines_sentence_follows_the_intervals():
    """The README says which variants land below WiSE-FT's curve and which are within noise of it."""
    rows = family_rows()
    below = [r.split(" | ")[0].strip("| ") for r in rows if r.endswith("| below WiSE-FT |")]
    within = [r.split(" | ")[0].strip("| ") for r in rows if r.endswith("| within noise of WiSE-FT |")]
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"below WiSE-FT's curve: {', '.join(below)}" in readme
    assert f"within noise of it: {', '.join(within)}" in readme
    assert not any(r.endswith("| above WiSE-FT |") for r in rows) or "above WiSE-FT's curve" in readme


if __name__ == "__main__":  # print the rows as the docs should read
    print("\n".join(family_rows() + [""] + ensemble_rows()))
