"""Issue 23: the README welcomes and docs/ holds the reference. The README stays short, every link and
repository path in README.md and docs/*.md resolves, and docs/architecture.md's map of `core` (which
package uses which, the verbs) is the code's."""

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SHIPPED_DIRS = ("core", "explorer", "notebooks", "bench", "docs", "tests", "data")


def prose(page: Path) -> str:
    """A page's text without its fenced code blocks (commands and outputs, not links)."""
    return re.sub(r"^[ \t]*```.*?^[ \t]*```", "", page.read_text(), flags=re.S | re.M)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    heads = re.findall(r"^#+ (.+)$", prose(page), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def test_readme_is_a_welcome_page():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) < 150, f"README.md has {len(lines)} lines; the reference goes to docs/"
    for command in ("make demo", "make test"):
        assert any(line.startswith(command) for line in lines), command


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(page):
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.is_relative_to(REPO) and file.exists(), f"{page.name}: {target} is not a file in the repository"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file), f"{page.name}: {target} names no heading of {file.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_repository_path_in_backticks_exists(page):
    """A `core/...` or `tests/...` path quoted in the text names a file or folder that is there."""
    for path in re.findall(rf"`((?:{'|'.join(SHIPPED_DIRS)})/[^`\s]*)`", prose(page)):
        if not set(path) & set("{*<>$[:"):  # placeholders and patterns (`data/runs/lmc-*/`)
            assert (REPO / path.rstrip("/")).exists(), f"{page.name}: `{path}` does not exist"


def test_readme_shows_the_explorer():
    image = REPO / "docs" / "img" / "explorer.png"
    assert "(docs/img/explorer.png)" in (REPO / "README.md").read_text()
    assert image.stat().st_size < 300_000


def unit(module: str) -> str | None:
    """The package of `core` a dotted module name belongs to, as docs/architecture.md names it."""
    parts = module.split(".")
    if parts[0] != "core" or len(parts) == 1:
        return None
    if parts[1:3] == ["worlds", "build"]:
        return "worlds/build"
    return {"__main__": "cli"}.get(parts[1], parts[1])


def core_modules() -> dict[str, ast.Module]:
    return {
        ".".join(f.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): ast.parse(f.read_text())
        for f in sorted((REPO / "core").rglob("*.py"))
    }


def imported(tree: ast.Module, modules: dict) -> set[str]:
    """The core modules a module imports (`from core.x import y` counts core.x.y when y is a module)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out |= {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names
            }
    return {m for m in out if m in modules}


def test_architecture_lists_what_each_package_uses():
    modules = core_modules()
    uses = defaultdict(set)
    for name, tree in modules.items():
        for target in imported(tree, modules):
            if unit(target) and unit(target) != unit(name):
                uses[unit(name)].add(unit(target))
    rows = re.findall(
        r"^\| `core/([\w/]+?)(?:\.py)?` \| .+ \| (.+) \|$", (REPO / "docs" / "architecture.md").read_text(), re.M
    )
    documented = {name: set(re.findall(r"`([\w/]+)`", cell)) for name, cell in rows}
    packages = {unit(m) for m in modules} - {None}
    assert set(documented) == packages, "docs/architecture.md's table lists each package of core once"
    for name, cell in rows:
        assert documented[name] == uses[name] or (cell == "every package" and uses[name] == packages - {name}), name


def test_core_modules_import_no_cycle():
    """docs/architecture.md: no module imports a module that imports it back (directly or not)."""
    modules = core_modules()
    graph = {name: imported(tree, modules) - {name} for name, tree in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name, path):
        state[name] = 1
        for target in graph[name]:
            assert state.get(target) != 1, " -> ".join([*path, name, target])
            if target not in state:
                visit(target, [*path, name])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_architecture_lists_every_verb():
    tree = ast.parse((REPO / "core" / "cli.py").read_text())
    verbs = next(node.value for node in tree.body if isinstance(node, ast.AnnAssign) and node.target.id == "VERBS")
    text = (REPO / "docs" / "architecture.md").read_text()
    for key in verbs.keys:
        assert f"| `{key.value}` |" in text, key.value


DEFINITIONS = re.compile(r"chord|Frankle|Entezari|barriers-two-definitions", re.I)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_section_that_quotes_a_barrier_names_its_definition(page):
    """Issue 24: a barrier is the chord one (Entezari et al., 2022) or Frankle et al.'s (2020, worst point minus the
    mean of the ends); every section that quotes one says which, and none calls a chord number Frankle's."""
    text = prose(page)
    for section in re.split(r"^#+ ", text, flags=re.M):
        if re.search(r"\bbarriers?\b", section, re.I):
            assert DEFINITIONS.search(section), (
                f"{page.name}: section '{section.splitlines()[0]}' names no barrier definition"
            )
    assert "within Frankle et al.'s 2 pp" not in text
