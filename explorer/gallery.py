"""The app's two example-level panels: what changed between two alphas, and "try your own image"."""

from __future__ import annotations

import io

import numpy as np
import streamlit as st
from PIL import Image

from explorer import charts, state
from explorer.numbers import pct

ALL_CLASSES = "all classes"
THUMB = 112  # gallery thumbnail side, pixels (world images are 32 px: upscaled without smoothing)
PLOTLY = dict(theme=None, config={"displayModeBar": False})


@st.cache_data(max_entries=1024, show_spinner=False)
def example_thumbnail(example_id: str) -> np.ndarray | None:
    """The image behind a per-example id, as a thumbnail; None when it cannot be opened."""
    from core.data.registry import DatasetError, open_example  # imports torch: only when a gallery is shown

    try:
        img = open_example(example_id)
    except (DatasetError, OSError, ValueError):
        return None
    scale = THUMB / max(img.size)
    resample = Image.NEAREST if scale > 1 else Image.LANCZOS  # keep small images' pixels crisp
    return np.asarray(img.resize((round(img.width * scale), round(img.height * scale)), resample))


# ----------------------------------------------------------------------------- what changed


def _seed(widget: str, value, options: list) -> None:
    """A link's choice (?ref=, ?class=, ?y=) becomes the widget's value the first time it is drawn."""
    if widget not in st.session_state and value in options:
        st.session_state[widget] = value


def view_controls_ui(
    ra: state.RunArrays, key: str, dataset: str | None, wide: bool = True, asked: dict | None = None
) -> dict:
    """The server-side choices of the live view: the set for per-class changes and the gallery, the α
    to compare with, the class filter and the scatter's OOD axis (each change reruns the script); `asked`:
    the link's ref, class and y. Four columns, or two rows of two (`wide=False`, presenter mode: larger type
    would cut them)."""
    asked = asked or {}
    refs = [float(a) for a in ra.run.alphas]
    try:
        _seed(f"ref:{key}", float(asked.get("ref") or "nan"), refs)
    except ValueError:
        pass
    _seed(f"cls:{key}", asked.get("class"), ra.classnames)
    _seed(f"y:{key}", asked.get("y"), state.y_options(ra))
    c1, c2, c3, c4 = st.columns(4) if wide else [*st.columns(2), *st.columns(2)]
    names = list(ra.sets)
    dataset = c1.selectbox(
        "eval set (per-class, gallery)", names, key=f"set:{key}", index=names.index(dataset) if dataset in names else 0
    )
    ref_alpha = c2.select_slider(
        "compare with α",
        options=refs,
        value=None if f"ref:{key}" in st.session_state else (0.0 if state.view_index(ra, 0.0) is not None else refs[0]),
        format_func=lambda a: f"{a:.2f}",
        key=f"ref:{key}",
    )
    cls = c3.selectbox("class filter", [ALL_CLASSES, *ra.classnames], key=f"cls:{key}")
    y_name = (
        c4.selectbox("scatter's y axis", state.y_options(ra), key=f"y:{key}", format_func=charts.pretty)
        if ra.ood_names
        else None
    )
    return {
        "ref_alpha": float(ref_alpha),
        "dataset": dataset,
        "y_name": y_name,
        "cls": None if cls == ALL_CLASSES else ra.classnames.index(cls),
    }


def changes_ui(ra: state.RunArrays, controls: dict, alpha: float) -> None:
    """The gallery: which examples of the set changed between the compared α and the live slider's α
    (the live view sends it when the slider rests while this tab is open; the nearest swept alpha)."""
    key, a, dataset = str(ra.run.path), controls["ref_alpha"], controls["dataset"]
    grid = np.asarray(ra.run.alphas, dtype=float)
    b = float(grid[int(np.argmin(np.abs(grid - alpha)))])
    c1, c2 = st.columns([3, 2])
    c1.markdown(f"Examples at **α = {b:.2f}**, the live slider's nearest swept α (the gallery follows it as it moves).")
    kind = c2.radio(
        "show",
        ["fixed", "broken"],
        horizontal=True,
        key=f"kind:{key}",
        format_func=lambda k: {"fixed": "fixed ✓", "broken": "broken ✗"}[k],
    )
    if abs(a - b) < 1e-9:
        st.info("Both alphas are the same: move the α slider (or 'compare with α') to see which predictions change.")
    idx = state.flips(ra, dataset, a, b)[kind]
    cls = controls["cls"]
    if cls is not None:
        idx = idx[ra.sets[dataset].labels[idx] == cls]
    verb = "wrong → right" if kind == "fixed" else "right → wrong"
    st.markdown(
        f"**{len(idx)} {kind}** examples of *{dataset}* ({verb} from α={a:.2f} to α={b:.2f})"
        + (f", true class *{ra.classnames[cls]}*" if cls is not None else "")
    )
    if len(idx):
        limit = st.select_slider("examples shown", [6, 12, 24, 48], value=12, key=f"limit:{key}")
        example_grid_ui(ra, dataset, idx[:limit], a, b)


def _top_line(ra: state.RunArrays, alpha: float, classes: np.ndarray, probs: np.ndarray, label: int) -> str:
    items = [
        f"{'**' if c == label else ''}{ra.classnames[c]} {pct(p)}{'**' if c == label else ''}"
        for c, p in zip(classes, probs)
    ]
    return f"α={alpha:.2f}: " + ", ".join(items)


def example_grid_ui(ra: state.RunArrays, dataset: str, idx: np.ndarray, a: float, b: float, per_row: int = 6) -> None:
    """Each example: its image, true label, and top-3 predictions with probabilities at both alphas."""
    top_a, probs_a = state.top_predictions(ra, dataset, idx, a)
    top_b, probs_b = state.top_predictions(ra, dataset, idx, b)
    cols = st.columns(per_row)
    for j, i in enumerate(idx):
        label = int(ra.sets[dataset].labels[i])
        with cols[j % per_row]:
            thumb = example_thumbnail(ra.sets[dataset].ids[i])
            if thumb is None:
                st.caption(f"(image unavailable: {ra.sets[dataset].ids[i]})")
            else:
                st.image(thumb)
            st.markdown(
                f"true: **{ra.classnames[label]}**  \n"
                + _top_line(ra, a, top_a[j], probs_a[j], label)
                + "  \n"
                + _top_line(ra, b, top_b[j], probs_b[j], label)
            )


# ----------------------------------------------------------------------------- your own image


@st.cache_resource(max_entries=2, show_spinner="Loading the run's two weight sets…")
def path_predictor(run_dir: str, stamp: float):
    """core.wiseft.predict.PathPredictor for a run (holds theta_0, theta_1 and one model)."""
    from core.wiseft.predict import PathPredictor

    return PathPredictor(run_dir)


@st.cache_data(max_entries=64, show_spinner="Classifying along the path…")
def image_probabilities(run_dir: str, stamp: float, png: bytes, alphas: tuple[float, ...]) -> np.ndarray:
    """(A, C) class probabilities of the image at each alpha."""
    image = Image.open(io.BytesIO(png))
    return path_predictor(run_dir, stamp).probabilities(image, np.asarray(alphas))


UPLOAD_TYPES = "PNG, JPEG, WebP, GIF, BMP or TIFF"


def read_upload(name: str, data: bytes) -> tuple[Image.Image, str]:
    """An uploaded file as an RGB image and a note for the user ('' when none).

    Transparent pixels are composited on white (the models saw photos, not black backgrounds; PIL's
    convert('RGB') would silently drop the alpha channel and leave whatever colour it hid, often
    black). Raises ValueError with a message that names the file, never PIL's object repr."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            transparent = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
            if not transparent:
                return img.convert("RGB"), ""
            rgba = img.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        kind = "a text file" if data[:512].isascii() else "not an image format Pillow can read"
        raise ValueError(f"{name} is {kind}, not an image; upload a {UPLOAD_TYPES} file") from None
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return (
        Image.alpha_composite(white, rgba).convert("RGB"),
        f"{name} has transparent pixels: they are shown and classified on a white background.",
    )


def pick_image_ui(ra: state.RunArrays, key: str) -> tuple[Image.Image | None, str]:
    """An example picked from the run's eval sets, or an uploaded image, with a caption;
    (None, '') until there is one."""
    source = st.radio("image", ["pick one from the run", "upload one"], horizontal=True, key=f"src:{key}")
    if source == "upload one":
        upload = st.file_uploader("an image file", key=f"upload:{key}")
        if upload is None:
            return None, ""
        try:
            image, note = read_upload(upload.name, upload.getvalue())
        except ValueError as err:
            st.error(f"**Cannot read {upload.name}**: {err}")
            return None, ""
        if note:
            st.info(note)
        return image, upload.name
    c1, c2 = st.columns(2)
    dataset = c1.selectbox("eval set", list(ra.sets), key=f"img_set:{key}")
    ids = ra.sets[dataset].ids
    i = int(c2.number_input("example", 0, len(ids) - 1, 0, key=f"img_i:{key}"))
    from core.data.registry import DatasetError, open_example

    try:
        return open_example(ids[i]), f"{ids[i]}: true class **{ra.classnames[ra.sets[dataset].labels[i]]}**"
    except (DatasetError, OSError, ValueError) as err:
        st.error(f"**Cannot open example {ids[i]}**: {err}")
        return None, ""


def try_image_ui(ra: state.RunArrays, alpha: float) -> None:
    """An image's top predictions along the path, computed with the run's two weight sets."""
    key = str(ra.run.path)
    image, note = pick_image_ui(ra, key)
    if image is None:
        return
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    grid = tuple(float(a) for a in ra.run.alphas)
    try:
        probs = image_probabilities(key, state.run_stamp(ra.run.path), buf.getvalue(), grid)  # (A, C)
    except Exception as err:  # noqa: BLE001  (missing weights, a model that cannot be rebuilt, ...)
        st.error(f"**Cannot classify with this run's weights**: {err}")
        return
    left, right = st.columns([1, 3])
    resample = Image.NEAREST if image.width < 224 else Image.LANCZOS  # small world images stay crisp
    left.image(np.asarray(image.resize((224, max(1, 224 * image.height // image.width)), resample)))
    left.markdown(note)
    near = int(np.argmin(np.abs(np.asarray(grid) - alpha)))
    top = np.argsort(-probs[near], kind="stable")[:3]  # the list and the chart name the same classes
    left.markdown(
        f"at α={grid[near]:.2f}"
        + (" (nearest grid point)" if abs(grid[near] - alpha) > 1e-6 else "")
        + ":  \n"
        + "  \n".join(f"{ra.classnames[c]}: {pct(probs[near, c])}" for c in top)
    )
    right.plotly_chart(charts.path_probabilities(np.asarray(grid), probs, ra.classnames, alpha, first=top), **PLOTLY)
