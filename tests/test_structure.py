"""The package's shape, read from its source: no import cycles, no other module's private names, gradio only in
the UI, the run folder without torch, modules and functions of a readable size."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "studio"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import in the file, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.append((base, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    edges = {name: set() for name in known}
    for name, path in known.items():
        for base, names in imports(name, path):
            for target in [base] + [f"{base}.{item}" for item in names]:
                if target in known and target != name:
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_no_module_imports_another_modules_private_names():
    known = modules()
    private = [f"{name} imports {base}.{item}" for name, path in known.items() for base, names in imports(name, path)
               if base in known and base != name for item in names if item.startswith("_") and not item.startswith("__")]
    assert private == []


def test_only_the_ui_imports_gradio_and_no_tab_imports_another():
    known = modules()
    outside = [name for name, path in known.items() if not name.startswith("studio.ui")
               and any(base.split(".")[0] == "gradio" for base, _ in imports(name, path))]
    assert outside == []
    tabs = [f"{name} -> {target}" for name, targets in graph().items() if name.startswith("studio.ui.")
            for target in targets if target.startswith("studio.ui.") and target.endswith("_tab")]
    assert tabs == []


def test_core_modules_know_nothing_of_the_ui():
    """Widgets' quirks (a table's empty cell, a state's copy, Gradio's change detection) are handled in studio/ui."""
    words = ("gradio", "pandas", "dataframe", "gr.")
    found = [f"{path.relative_to(PACKAGE.parent)}: {word}" for name, path in modules().items()
             if not name.startswith("studio.ui") and name not in ("studio", "studio.app")
             for word in words if word in path.read_text(encoding="utf-8").lower()]
    assert found == []


@pytest.mark.parametrize("module", ["studio.runs", "studio.config", "studio.events", "studio.examples", "studio.jobs"])
def test_the_run_folder_and_the_job_list_load_without_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]"
    result = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_modules_and_functions_stay_readable():
    long_modules, long_functions = [], []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {length} lines")
    assert long_modules == [] and long_functions == []


def test_the_package_is_laid_out_as_docs_design_md_says():
    design = (PACKAGE.parent / "docs" / "design.md").read_text(encoding="utf-8")
    missing = [str(path.relative_to(PACKAGE.parent)) for path in sorted(PACKAGE.rglob("*.py"))
               if path.name != "__init__.py" and path.name not in design]
    assert missing == [], "docs/design.md does not mention these modules"
