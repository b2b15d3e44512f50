"""Draw a package's import graph: its rooms, arrows, floors, circles and upward arrows.

    python scripts/import_graph.py                      # src/dropout_study
    python scripts/import_graph.py src/dropout_study --arrows

Each source file is a room (``exercises/base.py`` is ``exercises.base``; a package's
``__init__.py`` is the package's name, the top one ``__init__``); each import of another room,
at the top of a file or inside a function, is an arrow from the importer to the imported.
Floors are the longest-path layering of the graph with its circles folded into one room: a
room that imports nothing stands on floor 0, any other one floor above the highest room it
imports. An import under ``if TYPE_CHECKING:`` never runs: it is counted apart, as a
type-only arrow, and is not in the graph. A circle is a strongly connected component of more
than one room. Against the layer
order declared below (``LAYERS``, bottom first), an arrow runs *upward* where it goes from a
room in a lower layer to one in a higher layer (arrows within a layer are fine).

It prints rooms, floors, arrows, circles and upward arrows, and exits 1 where there is a
circle, 2 where a room is in no declared layer. Standard library only (``ast``): it runs
nothing it reads.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

# The layers of dropout_study, bottom first: a room imports its own layer and those below.
# A name covers the room of that name and, for a package, every room inside it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundations: errors, files, config, data, random streams",
     ("__init__", "errors", "io", "environment", "spec", "experiments", "packing", "config",
      "data", "rng", "device", "frame", "rounds", "columns")),
    ("training and the plan",
     ("noise", "model", "train", "aggregate", "plan", "calibration", "estimate", "bench",
      "testtime")),
    ("results, statistics and contrasts",
     ("results", "endpoints", "stats", "words", "contrast", "contrast_words", "instability",
      "selection", "plots", "presets")),
    ("the exercises", ("exercises", "headlines")),
    ("report, glance, precision rounds, compare and publish",
     ("glance", "report", "precision", "compare", "publish", "status", "progress")),
    ("the command line", ("cli", "cli_plan", "cli_train")),
]


def rooms_of(root: Path) -> dict[str, Path]:
    """Every source file below ``root`` by its room name."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _package_of(room: str, path: Path) -> list[str]:
    """The package a room's relative imports start from, as parts ([] for the top one)."""
    parts = [] if room == "__init__" else room.split(".")
    return parts if path.name == "__init__.py" else parts[:-1]


def _type_only(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): a block only a type checker reads."""
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _walk(node: ast.AST, typing_only: bool = False):
    """Every node below ``node`` with whether it stands in a type-only block."""
    for child in ast.iter_child_nodes(node):
        inner = typing_only or _type_only(child)
        yield child, typing_only
        if _type_only(child):
            for sub in child.body:
                yield sub, True
                yield from _walk(sub, True)
            for sub in child.orelse:
                yield sub, typing_only
                yield from _walk(sub, typing_only)
        else:
            yield from _walk(child, inner)


def imports_of(room: str, path: Path, rooms: dict[str, Path], top: str,
               typing_only: bool = False) -> set[str]:
    """The rooms that ``room`` imports (relative imports, and absolute ones of ``top``): those
    that run, or with ``typing_only`` those under ``if TYPE_CHECKING:`` only."""
    found: set[str] = set()

    def resolve(parts: list[str], names: list[str]) -> None:
        base = ".".join(parts) or "__init__"
        hit = False
        for name in names:  # `from . import config` imports the room config
            sub = ".".join([*parts, name])
            if name != "*" and sub in rooms:
                found.add(sub)
                hit = True
        if not hit and base in rooms:
            found.add(base)

    for node, under in _walk(ast.parse(path.read_text(), str(path))):
        if under != typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level:
                pkg = _package_of(room, path)
                parts = pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                resolve(parts + (node.module.split(".") if node.module else []), names)
            elif node.module and node.module.split(".")[0] == top:
                resolve(node.module.split(".")[1:], names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == top:
                    resolve(parts[1:], [])
    found.discard(room)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one room (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(1000, 10 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def floors(graph: dict[str, set[str]], rings: list[list[str]]) -> dict[str, int]:
    """Each room's floor: 0 where it imports nothing, else one above the highest room it
    imports; the rooms of a circle share one floor."""
    comp = {v: v for v in graph}
    for ring in rings:
        for v in ring:
            comp[v] = ring[0]
    below: dict[str, set[str]] = {c: set() for c in comp.values()}
    for v, ws in graph.items():
        below[comp[v]] |= {comp[w] for w in ws if comp[w] != comp[v]}
    memo: dict[str, int] = {}

    def floor(c: str) -> int:
        if c not in memo:
            memo[c] = 1 + max((floor(d) for d in below[c]), default=-1)
        return memo[c]

    return {v: floor(comp[v]) for v in graph}


def layer_of(room: str) -> int | None:
    for i, (_, names) in enumerate(LAYERS):
        if any(room == n or room.startswith(n + ".") for n in names):
            return i
    return None


def graph_of(root: Path, typing_only: bool = False) -> dict[str, set[str]]:
    """Each room's arrows (with ``typing_only``: its type-only ones)."""
    rooms = rooms_of(root)
    graph = {r: imports_of(r, p, rooms, root.name, typing_only) for r, p in rooms.items()}
    if typing_only:  # an import that also runs is an arrow, not a type-only one
        ran = graph_of(root)
        graph = {r: ws - ran[r] for r, ws in graph.items()}
    return graph


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """The arrows from a room in a lower declared layer to one in a higher layer."""
    return sorted((v, w) for v, ws in graph.items() for w in ws
                  if None not in (layer_of(v), layer_of(w)) and layer_of(w) > layer_of(v))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default="src/dropout_study", help="the package folder")
    ap.add_argument("--arrows", action="store_true", help="list every arrow too")
    a = ap.parse_args(argv)
    root = Path(a.root)
    graph = graph_of(root)
    rings = circles(graph)
    level = floors(graph, rings)
    up = upward(graph)
    arrows = sum(len(ws) for ws in graph.values())
    typed = sum(len(ws) for ws in graph_of(root, typing_only=True).values())
    lines = {r: len(p.read_text().splitlines()) for r, p in rooms_of(root).items()}
    print(f"{len(graph)} rooms on {max(level.values(), default=-1) + 1} floors, {arrows} "
          f"arrows, {len(up)} running upward, {len(rings)} circle{'s' * (len(rings) != 1)} "
          f"({typed} type-only arrows besides)")
    for f in range(max(level.values(), default=-1), -1, -1):
        print(f"floor {f:2d}: " + ", ".join(f"{r} ({lines[r]})" for r in sorted(graph)
                                           if level[r] == f))
    print("layers (bottom first):")
    for i, (name, _) in enumerate(LAYERS):
        print(f"  {i} {name}: " + ", ".join(r for r in sorted(graph) if layer_of(r) == i))
    loose = sorted(r for r in graph if layer_of(r) is None)
    if loose:
        print("in no declared layer: " + ", ".join(loose))
    if a.arrows:
        print("arrows:")
        for v in sorted(graph):
            print(f"  {v} -> {', '.join(sorted(graph[v])) or '(nothing)'}")
    print("upward arrows:" + ("" if up else " none"))
    for v, w in up:
        print(f"  {v} ({layer_of(v)}) -> {w} ({layer_of(w)})")
    print("circles:" + ("" if rings else " none"))
    for ring in rings:
        print("  " + " <-> ".join(ring))
    return 1 if rings else 2 if loose else 0


if __name__ == "__main__":
    sys.exit(main())
