"""The package's shape, read with ``ast`` (nothing is imported): data flows one way, so no two
modules import each other — not even through an import inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "mobilepack"


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the mobilepack modules it imports anywhere in its body."""
    modules = {_module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mobilepack"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("mobilepack"))
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_a_cycle_is_found(tmp_path):
    """Negative: the check sees a cycle made through a function-level import."""
    pkg = tmp_path / "mobilepack"
    (pkg / "inspect").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "inspect" / "__init__.py").write_text("")
    (pkg / "inspect" / "lint.py").write_text("from mobilepack.inspect.report import Finding\n")
    (pkg / "inspect" / "report.py").write_text("def f():\n    from mobilepack.inspect import lint\n")
    assert cycles(import_graph(pkg)) == [["mobilepack.inspect.lint", "mobilepack.inspect.report"]]


MAX_FUNCTION = 80        # lines, decorators excluded
LONG_FUNCTION = 60       # at most MAX_LONG functions may be longer than this
MAX_LONG = 3
MAX_MODULE = 400


def function_sizes(package: Path = PACKAGE) -> dict[str, int]:
    """"path:name" -> lines of every function and method."""
    sizes: dict[str, int] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                rel = path.relative_to(package.parent).as_posix()
                sizes[f"{rel}:{node.lineno}:{node.name}"] = node.end_lineno - node.lineno + 1
    return sizes


def module_sizes(package: Path = PACKAGE) -> dict[str, int]:
    return {p.relative_to(package.parent).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
            for p in sorted(package.rglob("*.py"))}


def size_problems(package: Path = PACKAGE) -> list[str]:
    functions = function_sizes(package)
    problems = [f"{name} has {n} lines (> {MAX_FUNCTION})" for name, n in functions.items() if n > MAX_FUNCTION]
    long = sorted(name for name, n in functions.items() if n > LONG_FUNCTION)
    if len(long) > MAX_LONG:
        problems.append(f"{len(long)} functions over {LONG_FUNCTION} lines (at most {MAX_LONG}): {', '.join(long)}")
    problems += [f"{name} has {n} lines (> {MAX_MODULE})" for name, n in module_sizes(package).items()
                 if n > MAX_MODULE]
    return problems


def test_functions_and_modules_stay_small():
    assert size_problems() == []


def test_an_oversized_function_is_found(tmp_path):
    """Negative: one 81-line function, four 61-line ones and a 401-line module are each reported."""
    pkg = tmp_path / "mobilepack"
    pkg.mkdir()
    body = "    x = 1\n"
    (pkg / "big.py").write_text("def f():\n" + body * 80)
    (pkg / "many.py").write_text("".join(f"def g{i}():\n" + body * 60 + "\n" for i in range(4)))
    (pkg / "long.py").write_text("x = 1\n" * 401)
    problems = size_problems(pkg)
    assert any("big.py:1:f has 81 lines" in p for p in problems)
    assert any("functions over 60 lines" in p and "many.py" in p for p in problems)
    assert any("long.py has 401 lines" in p for p in problems)
