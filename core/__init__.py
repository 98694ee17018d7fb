"""WiSE-FT Explorer's compute package: zero-shot heads, fine-tuning, weight interpolation, sweeps.

The subpackages, in the order a run uses them: model (load CLIP, build the zero-shot head), train,
wiseft (interpolate, sweep), results (metrics, tables), runs (the run folder); data, lmc and worlds
beside them. Which uses which: docs/architecture.md. `python -m core --help` for the command line.
Never imports streamlit, ipywidgets or plotting libraries.
"""

__version__ = "0.1.0"
