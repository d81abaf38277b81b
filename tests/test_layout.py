"""House rules that hold for every later change: files readable in one sitting, the required top level."""

from __future__ import annotations

import ast
from pathlib import Path

import bacuda_research

PKG = Path(bacuda_research.__file__).parent
ROOT = PKG.parent
MAX_LINES = 400  # "~400 lines at most": nanoGPT's model.py is a whole GPT in 330


def package_files() -> list[Path]:
    return sorted(p for p in PKG.rglob("*") if p.suffix in (".py", ".c") and "__pycache__" not in p.parts)


def test_no_package_file_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in package_files() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by idea (one sitting is ~{MAX_LINES} lines): {long}"


def longest_function() -> tuple[str, int]:
    best = ("", 0)
    for p in package_files():
        if p.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > best[1]:
                    best = (f"{p.relative_to(ROOT)}:{node.lineno} {node.name}", n)
    return best


def test_no_function_longer_than_a_screenful_and_a_half(capsys):
    name, n = longest_function()
    with capsys.disabled():
        print(f"\nlongest function: {name} ({n} lines)")
    assert n <= 120, f"{name} is {n} lines: split it"


def test_required_top_level():
    if not (ROOT / "pyproject.toml").is_file():  # an installed package: no checkout to check
        return
    for name in ("bacuda_research", "conf", "experiments", "scripts", "tests", "pyproject.toml", "README.md"):
        assert (ROOT / name).exists(), name
