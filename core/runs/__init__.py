"""The run folder: the one format that compute writes and the explorer and notebooks read.

artifacts    Run (the reader), find_runs, atomic JSON writes; docs/run-format.md describes the layout
manifest     the manifest: read, checked and written with provenance
files        atomic writes, safetensors read by memory map or written by streaming
sweep_store  sweep generations: a run stays whole while a sweep writes
weights      weight files in and out of a run (safetensors only), load_classifier
create       new runs: zero-shot, a path between two weight files, from scratch
identity     content digests that say whether an input changed (one place for all of them)
"""
