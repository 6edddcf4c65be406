"""The engine's layout holds: imports run downwards through the stages, no cycles, no Qt.

The contracts live in pyproject.toml (``[tool.importlinter]``); docs/architecture.md
draws the layers.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60


def test_import_contracts_are_kept():
    # in a child: import-linter's command disables every logger that exists in its process
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _functions(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


def test_functions_are_short():
    long = [f"{p.relative_to(ROOT)}:{line} {name} ({n} lines)"
            for p in sorted((ROOT / "tweakgui").rglob("*.py"))
            for name, line, n in _functions(p) if n > MAX_FUNCTION_LINES]
    assert not long, "functions over %d lines:\n%s" % (MAX_FUNCTION_LINES, "\n".join(long))


def test_no_parameter_read_by_prefix():
    """Stage parameters are read through fit.Stage, never as getattr(params, prefix + name)."""
    offenders = []
    for p in sorted((ROOT / "tweakgui").rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                    and len(node.args) >= 2 and isinstance(node.args[1], (ast.BinOp, ast.JoinedStr))):
                offenders.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for p in sorted((ROOT / "tweakgui").rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tweakgui"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        offenders.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}")
    assert not offenders, offenders
