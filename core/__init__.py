"""WiSE-FT Explorer's compute package: zero-shot heads, fine-tuning, weight interpolation, sweeps.

The modules, in the order a run uses them: models (load CLIP, build the zero-shot head), finetune,
interpolate, sweep, metrics, artifacts (run folders). `python -m core --help` for the command line.
Never imports streamlit, ipywidgets or plotting libraries.
"""

__version__ = "0.1.0"
