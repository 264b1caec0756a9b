"""The engine stands alone: nothing in studio/engine imports the training package, the UI or Qt."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "studio" / "engine"
FORBIDDEN = ("studio.training", "studio.ui", "PySide6", "pyqtgraph")


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # inside functions too
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted(ENGINE.glob("*.py")), ids=lambda path: path.name)
def test_an_engine_module_imports_no_training_ui_or_qt(path):
    bad = [name for name in _imported_modules(path) if name.startswith(FORBIDDEN)]
    assert not bad, f"{path.name} imports {bad}"
