"""environment.yml (conda) and requirements.txt (pip) must pin the same stack: conda is not
reachable on CI, so this test is the check."""

import re

from conftest import REPO


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            found[m.group(1).lower().replace("_", "-")] = m.group(2)
    return found


def test_conda_environment_matches_pip_pins():
    pip = pins((REPO / "requirements.txt").read_text())
    conda = pins((REPO / "environment.yml").read_text())
    assert pip, "requirements.txt has no pins"
    assert conda == pip


def test_the_package_requirements_stay_loose():
    text = (REPO / "pyproject.toml").read_text()
    deps = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "==" not in deps, "pyproject.toml must not pin exact versions (users bring their CUDA torch)"
