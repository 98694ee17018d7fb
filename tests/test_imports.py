"""The architecture's import rules (issue 23): no module of core/ or explorer/ takes a _private name from
another module, and core never imports the presentation layer's libraries at import time."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "explorer")


def _modules():
    for pkg in PACKAGES:
        yield from sorted((REPO / pkg).rglob("*.py"))


def test_no_private_name_is_imported_from_another_module():
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private:
                    offenders.append(f"{path.relative_to(REPO)}: from {node.module} import {', '.join(private)}")
    assert not offenders, "\n".join(offenders)


def test_core_imports_no_streamlit_ipywidgets_or_plotting_at_module_level():
    banned = ("streamlit", "ipywidgets", "plotly", "matplotlib", "explorer")
    offenders = []
    for path in sorted((REPO / "core").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:  # module level only: `share` imports explorer in its verb
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in banned]
    assert not offenders, "\n".join(offenders)


def _graph() -> dict[str, set[str]]:
    """Module -> the modules of core/ and explorer/ it imports anywhere (function-level imports included)."""

    def name_of(path: Path) -> str:
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    paths = {name_of(p): p for p in _modules()}
    graph = {}
    for name, path in paths.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:
                    pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(pkg[: len(pkg) - node.level + 1] + [node.module])
                deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def test_no_import_cycle_in_core_or_explorer():
    graph, state = _graph(), {}

    def visit(name, path):
        state[name] = 1
        for target in sorted(graph[name]):
            assert state.get(target) != 1, "import cycle: " + " -> ".join([*path, name, target])
            if target not in state:
                visit(target, [*path, name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
