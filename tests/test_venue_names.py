"""A venue is one module: outside feeds/venues/ and feeds/sim/ no code spells a venue's name (it asks the
declaration), and feeds/ tells connections apart by type, not by ``hasattr``."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from feeds.venues import VENUES

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("feeds", "strategy", "tui")
EXEMPT = (ROOT / "feeds" / "venues", ROOT / "feeds" / "sim")
NAME = re.compile(r"(?<![A-Za-z_])(" + "|".join(sorted(map(re.escape, VENUES), key=len, reverse=True)) + r")(?![A-Za-z])")


def sources() -> list[Path]:
    return [p for root in CHECKED for p in sorted((ROOT / root).rglob("*.py"))
            if not any(p.is_relative_to(d) for d in EXEMPT)]


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of docstring constants: prose may name a venue as an example."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def venue_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = docstrings(tree)
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return [f"{where}:{node.lineno}: {node.value[:60]!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
            and NAME.search(node.value)]


def test_the_check_finds_a_venue_name_where_there_is_one(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Docs may say BINANCE."""\nFEES = {"BINANCE": 10.0}\nCONN = f"COINBASE_ADVANCED#{1}"\n'
                   'OK = "BINANCEX"\n')
    found = [line.split(": ", 1)[1] for line in venue_literals(bad)]
    assert found == ["'BINANCE'", "'COINBASE_ADVANCED#'"]


def test_no_venue_name_outside_the_venue_modules_and_the_simulator():
    found = [hit for path in sources() for hit in venue_literals(path)]
    assert not found, "ask the venue's declaration (feeds.venues) instead:\n" + "\n".join(found)


def test_no_hasattr_in_feeds():
    found = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in sorted((ROOT / "feeds").rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr"]
    assert not found, "use a typed protocol, not hasattr:\n" + "\n".join(found)
