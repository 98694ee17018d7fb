"""Results read from a run: metrics over stored logits, tables, and the paper's numbers beside them.

metrics        accuracy, loss, barriers, effective robustness (numpy only)
extra_metrics  the metrics beyond top-1 of the paper's Table 6 (macro F1, worst region)
report         a run's accuracy grid from its metrics table
tables         pandas DataFrames of runs, baselines, fits and the paper's tables
compare        a run beside the paper's published numbers (data/paper/)
"""
