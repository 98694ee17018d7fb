"""`make world` (`python -m core world`): every shipped artifact of the embedded world, from scratch.

config     WorldBuild and LabConfig: what is built, with every setting's default
recipes    the build steps (pretrain, fine-tune, from scratch, path runs, baselines, loss plane)
lab        pieces the LMC lab's steps share (eval sets, summaries, freshness)
lab_steps  the lab's four steps: spawn at k, SWA, soups, alignment
parallel   independent training jobs two at a time, in spawned processes (the same bytes as one process)
world      build(): the whole build in order, resumable; main() is the `world` verb
"""
