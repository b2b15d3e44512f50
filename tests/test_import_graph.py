"""The package's import graph (``scripts/import_graph.py``): no circle, and at most three
arrows running upward against the declared layers (issue 30; at 36792cf there were two
circles and seven upward arrows)."""

import importlib.util
import subprocess
import sys

from .conftest import ROOT

SCRIPT = ROOT / "scripts" / "import_graph.py"
PACKAGE = ROOT / "src" / "dropout_study"


def graph_module():
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_import_graph_has_no_circle_and_few_upward_arrows():
    g = graph_module()
    graph = g.graph_of(PACKAGE)
    assert g.circles(graph) == []
    assert [r for r in graph if g.layer_of(r) is None] == []  # every room in a layer
    # the two docs/architecture.md names and argues; a third must be argued there first
    assert sorted(g.upward(graph)) == [("plan", "exercises"), ("results", "exercises")]
    out = subprocess.run([sys.executable, str(SCRIPT), str(PACKAGE)], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "circles: none" in out.stdout


def test_a_circle_is_found_and_fails_the_script(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .sub import c\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from ..a import x\nfrom typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from .. import b\n")
    g = graph_module()
    graph = g.graph_of(pkg)
    assert graph["a"] == {"b"} and graph["b"] == {"sub.c"} and graph["sub.c"] == {"a"}
    assert g.graph_of(pkg, typing_only=True)["sub.c"] == {"b"}
    assert g.circles(graph) == [["a", "b", "sub.c"]]
    assert set(g.floors(graph, g.circles(graph)).values()) == {0}
    out = subprocess.run([sys.executable, str(SCRIPT), str(pkg)], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 1 and "a <-> b <-> sub.c" in out.stdout


# the modules still over the limit, to be split (issue 30: none left)
NOT_YET_SPLIT: set[str] = set()  # issue 30: none left


def test_no_source_module_is_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in sorted(PACKAGE.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > 400}
    assert set(long) <= NOT_YET_SPLIT, long
