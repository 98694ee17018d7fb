"""Independent training jobs of the world build, two at a time: each job runs in a fresh (spawned) process on
the build's fixed thread count, so its weights are the bytes a one-process build gives (the thread count, not
the process, sets the CPU reductions' order), and the two cores of a laptop both work. Used for the baseline
family, the fine-tuning family and the LMC lab's four steps; `WorldBuild.workers = 1` runs them in order in
this process."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch

Job = tuple[Callable[..., Any], tuple]  # a module-level function (spawned workers import it) and its arguments


def timed_call(threads: int, fn: Callable[..., Any], args: tuple) -> tuple[Any, float]:
    """fn(*args) on `threads` torch threads: (its result, its wall seconds)."""
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    out = fn(*args)
    return out, round(time.perf_counter() - t0, 1)


def run_jobs(jobs: Sequence[Job], workers: int, threads: int) -> list[tuple[Any, float]]:
    """Every job's (result, seconds), in the jobs' order. Jobs must not write the same files; list the longest
    first (a worker takes the next job as it finishes one). An error in a job stops the build with it."""
    if workers <= 1 or len(jobs) <= 1:
        before = torch.get_num_threads()
        try:
            return [timed_call(threads, fn, args) for fn, args in jobs]
        finally:
            torch.set_num_threads(before)
    context = multiprocessing.get_context("spawn")  # no forked torch state: a worker is a fresh process
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures = [pool.submit(timed_call, threads, fn, args) for fn, args in jobs]
        return [f.result() for f in futures]
