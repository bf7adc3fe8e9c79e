"""The shape of the package, computed from its source with `ast` (nothing is imported).

A *part* of leadmail is a subpackage (`leadmail/routing/`, `leadmail/migrations/`) or a
top-level module (`leadmail/config.py`). Part A depends on part B when any module of A
imports anything of B: at the top, inside a function, or under `if TYPE_CHECKING:`, for an
import hidden in a function is still a dependency. The parts must form no cycle, so each can
be read, tested and replaced knowing only what is below it (docs/architecture.md).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "leadmail"
ROOT = "leadmail"  # leadmail/__init__.py itself (only __version__)


def parts() -> set[str]:
    """The names of leadmail's parts."""
    names = {ROOT}
    for path in PACKAGE.iterdir():
        if path.is_dir() and any(path.rglob("*.py")):  # migrations/ has no __init__.py
            names.add(path.name)
        elif path.suffix == ".py" and path.name != "__init__.py":
            names.add(path.stem)
    return names


def modules() -> Iterator[tuple[str, Path]]:
    """Each module of leadmail with the part it belongs to."""
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts == ("__init__.py",):
            yield ROOT, path
        elif len(rel.parts) == 1:
            yield rel.stem, path
        else:
            yield rel.parts[0], path


def _dotted(path: Path) -> list[str]:
    """The dotted name of a module, as a list: leadmail/notify/links.py -> leadmail.notify.links."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    names = list(rel.parts)
    return names[:-1] if names[-1] == "__init__" else names


def imported(path: Path) -> Iterator[tuple[list[str], int]]:
    """The absolute dotted names (as lists) that a module imports, with the line of each.
    `from X import y` yields X.y: y may be a module (and then it is the one imported)."""
    tree = ast.parse(path.read_text(), str(path))
    here = _dotted(path)
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split("."), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                origin = base + (node.module.split(".") if node.module else [])
            else:
                origin = (node.module or "").split(".")
            for alias in node.names:
                yield origin + ([] if alias.name == "*" else [alias.name]), node.lineno


def graph() -> dict[str, dict[str, str]]:
    """part -> {part it imports: where (path:line of the first such import)}."""
    names = parts()
    edges: dict[str, dict[str, str]] = {name: {} for name in names}
    for part, path in modules():
        for dotted, line in imported(path):
            if dotted[0] != ROOT:
                continue
            target = dotted[1] if len(dotted) > 1 and dotted[1] in names else ROOT
            if target != part:
                where = f"{path.relative_to(PACKAGE.parent)}:{line}"
                edges[part].setdefault(target, where)
    return edges


def cycles(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one part (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def loop_in(component: list[str], edges: dict[str, dict[str, str]]) -> list[str]:
    """One cycle through a component's first part, as a path that returns to its start."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    queue = [start]
    while queue:  # breadth first: the shortest way back to start
        node = queue.pop(0)
        for nxt in sorted(edges[node]):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return [start, *reversed(path[:-1]), start] if node != start else [start, start]
            if nxt in members and nxt not in parents and nxt != start:
                parents[nxt] = node
                queue.append(nxt)
    return component


def describe(component: list[str], edges: dict[str, dict[str, str]]) -> str:
    path = loop_in(component, edges)
    steps = [f"{a} -> {b} ({edges[a][b]})" for a, b in zip(path, path[1:], strict=False)]
    return f"cycle {' -> '.join(path)} (parts {', '.join(component)}):\n    " + "\n    ".join(steps)


def test_the_graph_sees_every_kind_of_import() -> None:
    """Sanity: known imports appear, including one made inside a function."""
    edges = graph()
    assert "tokens" in edges["notify"]  # notify/links.py: from leadmail import tokens
    assert "config" in edges["pipeline"]
    assert not edges["tokens"]  # tokens is a leaf: it imports nothing of leadmail
    assert not edges["liveness"]  # who holds a claim: a leaf too
    assert "intake" in edges["web"]  # web/api/posting.py, two levels down: intake.posted


def test_cycles_are_found_and_named() -> None:
    """The checker itself, on a made-up graph."""
    edges = {"a": {"b": "a.py:1"}, "b": {"c": "b.py:2"}, "c": {"a": "c.py:3"}, "d": {"a": "d:4"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert "a -> b -> c -> a" in describe(["a", "b", "c"], edges)
    assert cycles({"a": {"b": "x"}, "b": {}}) == []


def test_no_import_cycle_between_parts() -> None:
    edges = graph()
    found = [describe(c, edges) for c in cycles(edges)]
    assert not found, "import cycles between leadmail's parts:\n" + "\n".join(found)
