"""The import graph: one-way layers, no cycle, and no side effects from loading a model.

Every `import` of every module counts, also those inside functions (imported late for speed,
they are dependencies all the same). docs/architecture.md explains the layers.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import multianswer

PACKAGE = Path(multianswer.__file__).parent

# low -> high; a module may import its own layer or a lower one. tasks and sandbox are peers
# (neither imports the other); `multianswer` itself and the `rewards` shim are the public face.
LAYERS = {
    "core": 0, "tasks": 1, "sandbox": 1, "models": 2, "generation": 3, "training": 4,
    "evaluation": 5, "demo": 6, "cli": 7, "rewards": 8, "": 8,
}
PEERS_APART = {("tasks", "sandbox"), ("sandbox", "tasks")}
# inside core, low -> high (same rank: independent of each other)
CORE_ORDER = {
    "errors": 0, "paths": 0, "outputs": 0, "formats": 1, "matching": 2, "metrics": 3, "scoring": 4,
    "reward_logs": 5, "rewards": 6,
}


def module_name(path: Path) -> str:
    """'multianswer.core.scoring' for src/multianswer/core/scoring.py ('multianswer.tasks' for its __init__)."""
    parts = ("multianswer",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The multianswer modules that `path` imports, anywhere in the file (`from a import b` counts a.b if b is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.split(".")[0] == "multianswer"}


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (names that are not modules, like functions, dropped)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def layer(module: str) -> str:
    """'core' for multianswer.core.x, '' for multianswer itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_edges(graph: dict[str, set[str]]) -> list[str]:
    """Every import that points up the layer order, or across tasks/sandbox, or up the order inside core."""
    bad = []
    for src, targets in graph.items():
        for dst in targets:
            a, b = layer(src), layer(dst)
            if dst == "multianswer" and a == "cli":  # the CLI reads the version
                continue
            if LAYERS[b] > LAYERS[a] or (a, b) in PEERS_APART:
                bad.append(f"{src} -> {dst}")
            elif a == b == "core" and CORE_ORDER[dst.split(".")[2]] > CORE_ORDER[src.split(".")[2]]:
                bad.append(f"{src} -> {dst}")
    return sorted(bad)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_every_module_has_a_known_layer():
    graph = import_graph()
    assert {layer(m) for m in graph} <= set(LAYERS)
    assert {m.split(".")[2] for m in graph if layer(m) == "core" and m.count(".") == 2} <= set(CORE_ORDER)
    assert len(graph) > 40  # the walk found the package, not an empty folder


def test_no_import_points_up_a_layer():
    assert upward_edges(import_graph()) == []


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_the_checks_catch_what_they_look_for():
    # the same checks on made-up graphs: an upward edge, a peer edge, a core edge and a cycle are found
    graph = {
        "multianswer.core.formats": {"multianswer.evaluation.report"},
        "multianswer.tasks.base": {"multianswer.sandbox.checker"},
        "multianswer.core.matching": {"multianswer.core.scoring"},
        "multianswer.evaluation.report": {"multianswer.evaluation.rundir"},
        "multianswer.evaluation.rundir": {"multianswer.evaluation.report"},
    }
    assert upward_edges(graph) == [
        "multianswer.core.formats -> multianswer.evaluation.report",
        "multianswer.core.matching -> multianswer.core.scoring",
        "multianswer.tasks.base -> multianswer.sandbox.checker",
    ]
    assert find_cycle(graph) == ["multianswer.evaluation.report", "multianswer.evaluation.rundir",
                                 "multianswer.evaluation.report"]
    assert imports_of(PACKAGE / "evaluation" / "report.py") >= {"multianswer.evaluation.rundir"}


@pytest.mark.parametrize("module", ["multianswer.models.loading", "multianswer.generation.backends"])
def test_loading_a_model_registers_no_task(module):
    # in a fresh interpreter: the test process has imported the tasks long ago
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith('multianswer.tasks')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
