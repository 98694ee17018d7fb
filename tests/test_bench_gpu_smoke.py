"""bench/gpu.py runs end to end on the CPU (its figures are measured on a GPU, not here)."""

import importlib.util

from conftest import REPO


def test_gpu_bench_smoke(capsys):
    spec = importlib.util.spec_from_file_location("bench_gpu", REPO / "bench" / "gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "device: cpu" in out and "tiny:" in out and "sweep" in out and "fine-tune" in out and "img/s" in out
