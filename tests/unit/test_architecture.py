"""The layering of docs/architecture.md, checked on the source: no import cycle between the modules of
``src/mtcontrast`` (counting imports inside functions too; not those only for type checking), and tracking never
imports the training loop."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node, except those under ``if TYPE_CHECKING:`` (annotations only, never imported at run time)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo += node.orelse
            continue
        todo += list(ast.iter_child_nodes(node))
    return out


def import_graph() -> dict[str, set[str]]:
    """``module → modules of the package it imports`` (``from a import b`` counts ``a.b`` when that is a module)."""
    files = {_module_name(p): p for p in (SRC / "mtcontrast").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                deps.add(base)
                deps |= {f"{base}.{a.name}" for a in node.names}
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (ignoring a package's own ``__init__`` re-exports of its submodules), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def edges(node: str) -> set[str]:
        # a package's __init__ re-exporting its own submodules is not a cycle with them
        return {d for d in graph[node] if not d.startswith(node + ".")}

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges(node)):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 60
    assert _cycle(graph) is None, " → ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"p": {"p.x"}, "p.x": {"q"}, "q": set()}) is None


def test_tracking_never_imports_the_training_loop() -> None:
    graph = import_graph()
    for module in (m for m in graph if m.startswith("mtcontrast.tracking")):
        assert "mtcontrast.engine.trainer" not in graph[module], module


# docs/architecture.md's layers, bottom to top: a module imports only from its own layer or below.
LAYERS = {
    "facts": ("config", "tasks", "_compat"),
    "data": ("scenes", "data"),
    "model": ("models", "regularizer", "losses", "metrics"),
    "engine": ("engine",),
    "record": ("tracking",),
    "report": ("report",),
    "entry": ("training", "evaluation", "study", "errors", "cli"),
}


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    ranks = [i for i, names in enumerate(LAYERS.values()) if top in names]
    assert module == "mtcontrast" or ranks, f"{module}: not in a layer of docs/architecture.md"
    return ranks[0] if ranks else -1


def test_modules_import_only_from_their_layer_or_below() -> None:
    graph = import_graph()
    upward = [f"{m} -> {d}" for m, deps in sorted(graph.items()) for d in sorted(deps) if _layer(d) > _layer(m)]
    assert upward == []
