"""What the LMC lab's numbers say, in sentences computed from the stored sections (no plotting, no
streamlit): the app's lab page and notebooks 04 and 06 print these, so a claim always follows the
sign of its number. Each function takes one section as `core.worlds.build.lab` stored it."""

from __future__ import annotations

from core.results import metrics

METHOD_NAMES = {
    "unaligned": "unaligned",
    "weight_matching": "weight matching",
    "activation_matching": "activation matching",
    "activation_then_weight_matching": "activation, then weight matching",
    "ste": "straight-through estimator",
}
TITLES = {"spawn": "Spawn at k", "swa": "SWA", "align": "Alignment", "soups": "Soups"}  # one per stored section


def intro_md(section: str, s: dict) -> str:
    """What a section's experiment does, before its charts (the app's lab page and the shared page)."""
    if section == "spawn":
        return (
            "**Observation 2: a shared start gives a linear path.** A child is forked from the parent after k "
            "training steps and trained to the end with another data order; the barrier on the straight line from "
            f"the parent's end to the child's is measured on {s['eval']['n']} {s['eval']['set']} images, with "
            "BatchNorm statistics recomputed at every α. The barriers are Frankle et al.'s (2020): the worst value "
            "on the path minus the mean of its two ends (not the rise above the chord, Entezari et al.'s, which the "
            "explorer's loss chart draws); they call a pair *stable* when this error barrier is below 2%."
        )
    if section == "swa":
        return (
            "**Observation 3: SGD ends at the edge of a flat basin; averaging moves inward (SWA).** From the "
            "fine-tuned model, a constant-learning-rate phase saves snapshots; their uniform average is compared "
            "with each on ID loss, average OOD accuracy and flatness (the mean loss rise along the same random "
            "directions for every model)."
        )
    if section == "align":
        return (
            "**Observation 1, revisited: are independent inits far apart only up to a permutation?** The hidden "
            "units of a network can be reordered without changing its function. Git Re-Basin (Ainsworth et al., "
            "2022) permutes scratch model B's units to match model A's (weight matching, activation matching, or "
            "both), then measures the straight path again, with BatchNorm statistics interpolated or recomputed "
            "at every α. " + align_pair_md(s)
        )
    return (
        "**Soups: averaging several fine-tunes.** Fine-tunes of the zero-shot model with different "
        "hyperparameters are averaged uniformly, and greedily (ingredients added in order of held-out ID "
        "accuracy, kept when it does not fall; chosen on held-out id_train images, never on test). The "
        "pairwise barrier matrix says in advance which averages will work."
    )


def section_md(section: str, s: dict, baselines: list[tuple[str, float, float]] = ()) -> str:
    """What a section's numbers say, after its charts: spawn_md, swa_md, align_md or soups_md."""
    if section == "soups":
        return soups_md(s, baselines)
    return {"spawn": spawn_md, "swa": swa_md, "align": align_md}[section](s)


def _than(a: float, b: float, lower_is_better: bool, better: str, worse: str) -> str:
    """'lower' / 'higher' style word for a against b, 'the same' on a tie."""
    if a == b:
        return "the same"
    return better if (a < b) == lower_is_better else worse


def spawn_md(spawn: dict) -> str:
    """Spawn at k: the barrier at the first and the last k, and what that means by the 2% criterion."""
    k, eb, lb, h = spawn["k_epochs"], spawn["error_barrier"], spawn["loss_barrier"], spawn["holds"]
    line = 100 * spawn["stable_error_barrier"]
    out = [
        f"Children split at k = 0 (the parent's initial weights) end with an error barrier of **{100 * eb[0]:.2f}%** "
        f"and a loss barrier of **{lb[0]:.3f} nats**; split after **{k[-1]:g} epochs**, **{100 * eb[-1]:.2f}%** and "
        f"**{lb[-1]:.3f} nats**."
    ]
    if spawn.get("barrier_definition") == "frankle" and "error_barrier_chord" in spawn:
        chord = spawn["error_barrier_chord"]
        gap = max(abs(f - c) for f, c in zip(eb, chord))
        out.append(
            f"These are Frankle et al.'s barriers: the worst value on the path minus the mean of the two children's. "
            f"Above the chord instead (Entezari et al.), the error barriers are {100 * chord[0]:.2f}% and "
            f"{100 * chord[-1]:.2f}%; the two definitions differ by at most {100 * gap:.2f} points at any k, as "
            "the two children of each pair are about equally good."
        )
    r = spawn.get("config", {}).get("recipe")
    if r:
        warmup = f"{r['warmup_steps']} warmup steps" if r["warmup_steps"] else "no warmup"
        out.append(
            f"Parent and children share one recipe: AdamW at lr {r['lr']:g}, {warmup}, "
            f"weight decay {r['weight_decay']:g}, batch {r['batch_size']}, {r['epochs']} epochs; the parent ends at "
            f"**{100 * spawn['accuracy'][0][0]:.2f}%** ID accuracy (alpha 0 of every path)."
        )
    falls = h["error_barrier_falls_with_k"] and h["loss_barrier_falls_with_k"]
    out.append(
        "The barrier falls as the shared start grows."
        if falls
        else "The barrier does not fall steadily with k (see the chart)."
    )
    if h["unstable_at_k0"]:
        out.append(
            f"At k = 0 the pair is **unstable** (error barrier ≥ {line:g}%): different data orders from one "
            "initialization lead to different basins, as Frankle et al. found for ResNets on ImageNet."
        )
        later = [i for i in range(len(eb)) if all(100 * e < line for e in eb[i:])]
        if later:
            i = later[0]
            out.append(f"From k = **{spawn['k_steps'][i]} steps** ({k[i]:.3g} epochs) on, every pair is stable.")
    else:
        out.append(
            f"Already at k = 0 the pair is **stable** (error barrier < {line:g}%): this small network, trained "
            "with warmup, is stable from its initialization, like LeNet on MNIST in Frankle et al.; their ResNets "
            "on CIFAR-10 and ImageNet became stable only after a short shared start."
        )
    out.append(
        f"At the largest k the pair is {'stable' if h['stable_at_largest_k'] else '**not** stable'} by the "
        f"{line:g}% criterion."
    )
    return " ".join(out)


def swa_md(swa: dict) -> str:
    """SWA: the average against the final snapshot and against every snapshot, on each measure."""
    models, h = swa["models"], swa["holds"]
    avg, final = models[-1], models[-2]
    n = len(models) - 2
    word = lambda key, low: _than(
        avg[key], final[key], low, *(("lower", "higher") if key != "ood_acc" else ("higher", "lower"))
    )
    out = [
        f"The average of the **{n} snapshots** has {word('id_loss', True)} ID loss than the final snapshot "
        f"(**{avg['id_loss']:.4f}** vs {final['id_loss']:.4f} nats), {word('ood_acc', False)} average OOD accuracy "
        f"(**{100 * avg['ood_acc']:.1f}%** vs {100 * final['ood_acc']:.1f}%), and is "
        f"{_than(avg['flatness'], final['flatness'], True, 'flatter', 'less flat')} (mean loss rise "
        f"**{avg['flatness']:.4f}** vs {final['flatness']:.4f} nats along the same random directions)."
    ]
    every = [
        ("ID loss", h["average_beats_every_snapshot_on_id_loss"]),
        ("average OOD accuracy", h["average_beats_every_snapshot_on_ood_acc"]),
        ("flatness", h["average_flatter_than_every_snapshot"]),
    ]
    won = [name for name, ok in every if ok]
    lost = [name for name, ok in every if not ok]
    if won:
        out.append("It beats **every** snapshot on " + ", ".join(won) + ".")
    if lost:
        out.append(
            "It does **not** beat every snapshot on " + ", ".join(lost) + ": SWA's picture (the average "
            "lands nearer the centre of a flat basin) holds here only as far as these numbers say."
        )
    return " ".join(out)


# Two models scored on the same n images and k images apart: even with every difference one way (k up, none down)
# the paired 95% interval of the difference reaches 0 while k < Z**2 = 3.84 (the bootstrap's too: P(no image up) =
# (1 - k/n)**n ~ exp(-k) > 2.5% for k <= 3). So a gap of 3 images or fewer is within noise, per-image results or not.
NOISE_EXAMPLES = 3


def soups_md(soups: dict, baselines: list[tuple[str, float, float]] = ()) -> str:
    """Soups: each soup against its best ingredient on held-out ID data, the barrier matrix's advance call,
    the test-set comparison with WiSE-FT, and with `baselines` (core.lmc.lab.baseline_points) each one's
    effective robustness."""
    names = soups["ingredients"]
    out = ["Ingredients: " + "; ".join(f"#{i + 1} {n}" for i, n in enumerate(names)) + "."]
    n = soups.get("config", {}).get("n_heldout")  # held-out images: a soup and its members are scored on the same ones
    for kind, s in soups["soups"].items():
        members = " + ".join(f"#{i + 1}" for i in s["members"])  # numbered as on the barrier matrix
        verdict = "works" if s["works"] else "does **not** work"
        call = "predicted it" if s["works"] == s["predicted_to_work"] else "did **not** predict it"
        apart = round(abs(s["heldout_acc"] - s["best_member_heldout_acc"]) * n) if n else None
        if apart is not None and 0 < apart <= NOISE_EXAMPLES:
            verdict = (
                f"is **within noise** of its best member ({apart} of {n:,} held-out images apart; "
                f"{NOISE_EXAMPLES} or fewer is within noise however the two are paired)"
            )
            call = "predicted it to " + ("work" if s["predicted_to_work"] else "fail")
        out.append(
            f"The **{kind} soup** ({members}) {verdict}: held-out ID accuracy **{100 * s['heldout_acc']:.2f}%** "
            f"against its best member's {100 * s['best_member_heldout_acc']:.2f}%; the barrier matrix {call} "
            f"(largest pairwise barrier {s['max_pair_barrier']:+.3f} nats, tolerance {soups['barrier_tolerance']:g})."
        )
    points, wise = soups["points"], soups["wiseft"]
    best_ood = max(w["ood_acc"] for w in wise)
    for p in points:
        if p["kind"] != "ingredient":
            side = _than(p["ood_acc"], best_ood, False, "above", "below")
            out.append(
                f"On the test sets the {p['kind']} soup reaches {100 * p['ood_acc']:.1f}% average OOD accuracy, "
                f"{side} WiSE-FT's best ({100 * best_ood:.1f}%)."
            )
    if len(baselines) > 1:
        fit = metrics.fit_linear_trend([b[1] for b in baselines], [b[2] for b in baselines])
        er = lambda p: 100 * metrics.effective_robustness(p["id_acc"], p["ood_acc"], fit)
        best_wise = max(wise, key=lambda w: w["ood_acc"])
        soups_er = ", ".join(f"{p['kind']} soup {er(p):+.1f} pp" for p in points if p["kind"] != "ingredient")
        ingredients = [er(p) for p in points if p["kind"] == "ingredient"]
        out.append(
            f"Effective robustness against the {len(baselines)} baseline models' fit: {soups_er}; ingredients "
            f"{min(ingredients):+.1f} to {max(ingredients):+.1f} pp; WiSE-FT at α = {best_wise['alpha']:g} "
            f"{er(best_wise):+.1f} pp."
        )
        top = max(b[1] for b in baselines)
        beyond = min(p["id_acc"] for p in points)
        if beyond > top:
            out.append(
                f"Read these with care: the soups and their ingredients ({100 * beyond:.1f}% ID accuracy or "
                f"more) lie beyond every baseline model ({100 * top:.1f}% at most), where the fit is "
                "extrapolated, and near 100% small differences in accuracy are large on the logit scale."
            )
    return " ".join(out)


def align_pair_md(align: dict) -> str:
    """Which pair was aligned: its width against the world's, from the stored description."""
    pair = align.get("pair") or {}
    if not pair.get("width"):
        return "The pair: the world's two scratch models (data/runs/lmc-scratch)."
    times = pair["width"] / pair["world_width"] if pair.get("world_width") else None
    wider = f", {times:g}× the world's tower (width {pair['world_width']})" if times and times != 1 else ""
    return (
        f"The pair: two models trained from scratch for this experiment at width **{pair['width']}**{wider}, with "
        f"the world's scratch recipe and init seeds {pair['seeds'][0]} and {pair['seeds'][1]}, since alignment "
        "needs width (Git Re-Basin's barriers fall as networks widen)."
    )


def align_md(align: dict) -> str:
    """Alignment: the unaligned barrier, the best method's, their ratio against the bar, the function check."""
    methods, best, h = align["methods"], align["best"], align["holds"]
    base = methods["unaligned"]["barriers"]
    out = [
        f"Unaligned, the path between the two scratch models climbs a loss barrier of **{base['recomputed']['loss']:.2f} "
        f"nats** with BatchNorm statistics recomputed at every α ({base['interpolated']['loss']:.2f} nats with "
        f"interpolated statistics; error barriers {base['recomputed']['error']:.1f} and "
        f"{base['interpolated']['error']:.1f} points)."
    ]
    if best["method"] is None:
        return " ".join(out + ["No alignment method was measured."])
    b = methods[best["method"]]["barriers"]["recomputed"]
    name = METHOD_NAMES.get(best["method"], best["method"])
    out.append(
        f"The best method, **{name}**, brings it to **{b['loss']:.2f} nats** ({b['error']:.1f} error points): "
        f"**{100 * best['ratio']:.0f}%** of the unaligned barrier, "
        + ("within" if h["aligned_barrier_le_30pct"] else "**not** within")
        + f" the target of {100 * align['bar']:g}%."
    )
    if not h["aligned_barrier_le_30pct"]:
        out.append(
            "Permutations remove only part of the barrier here: Ainsworth et al. reach barriers near zero "
            "only as networks get wide."
        )
    interp = [r["interpolated"] for r in align["ratios"].values() if r["interpolated"] is not None]
    if interp and h["aligned_barrier_le_30pct"] and not h["aligned_barrier_le_30pct_interpolated"]:
        out.append(
            f"With the BatchNorm statistics interpolated like the weights, no method gets below "
            f"**{100 * min(interp):.0f}%**: the averaged network's statistics must be recomputed too "
            "(Jordan et al.'s REPAIR makes the same point)."
        )
    diff = max(v["same_function_max_logit_diff"] for m, v in methods.items() if m != "unaligned")
    out.append(
        ("Every" if h["permuted_copies_same_function"] else "**Not** every")
        + f" permuted copy computes the same function as the original (largest logit difference {diff:.1e})."
    )
    return " ".join(out)
