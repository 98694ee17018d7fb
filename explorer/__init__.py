"""WiSE-FT Explorer's presentation layer: the Streamlit app (app.py), its per-run arrays (state.py,
numpy only), the live view's payload (live.py), the paper's published sweeps (paper.py) and the
plotly charts shared with the notebooks (charts.py). Nothing here trains or sweeps: it reads run
folders through `core`.
"""
