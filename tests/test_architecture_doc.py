"""docs/architecture.md names every module of studio/ with one line, and no module that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_architecture_page_lists_exactly_the_modules_there_are() -> None:
    listed = set(re.findall(r"^- `([^`]+\.py)`: \S", (ROOT / "docs" / "architecture.md").read_text(), re.M))
    modules = {str(path.relative_to(ROOT / "studio")) for path in (ROOT / "studio").rglob("*.py")
               if path.name != "__init__.py"}
    assert sorted(modules - listed) == [], "modules missing from docs/architecture.md"
    assert sorted(listed - modules - {"main.py"}) == [], "docs/architecture.md names modules that are gone"
