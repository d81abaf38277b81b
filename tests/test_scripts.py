"""scripts/ uses the package as any user would: public names only, no sys.path tricks; and the
generated results page is written where the docs say."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bacuda_research.core.paths import REPO_ROOT

SCRIPTS = sorted((REPO_ROOT / "scripts").glob("*.py"))


def test_there_are_scripts():
    assert len(SCRIPTS) >= 10, f"scripts/ not found below {REPO_ROOT}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_imports_only_public_package_names(script):
    text = script.read_text(encoding="utf-8")
    assert "sys.path" not in text, f"{script.name}: no sys.path edits (the package is installed)"
    bad = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bacuda_research"):
            if any(p.startswith("_") for p in node.module.split(".")):
                bad.append(f"from {node.module} import ...")
            bad += [f"from {node.module} import {a.name}" for a in node.names if a.name.startswith("_")]
        elif isinstance(node, ast.Import):
            bad += [a.name for a in node.names if any(p.startswith("_") for p in a.name.split("."))]
    assert not bad, f"{script.name} imports private names: {bad}"


def test_scripts_do_not_import_each_other():
    stems = {p.stem for p in SCRIPTS}
    for script in SCRIPTS:
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            shared = [m for m in mods if m.split(".")[0] in stems | {"scripts"}]
            assert not shared, f"{script.name} imports {shared}: shared code belongs in the package"


def test_results_page_pastes_tables_with_links_relative_to_the_page(tmp_path):
    from bacuda_research.bench.results_page import END, START, write_results

    (tmp_path / "experiments" / "a").mkdir(parents=True)
    (tmp_path / "experiments" / "a" / "t.md").write_text("| x |\n|---|\n| 1 |\n")
    (tmp_path / "experiments" / "a" / "t.png").write_bytes(b"png")
    page = tmp_path / "experiments" / "README.md"
    page.write_text(f"# Experiments\n\n{START}\nold\n{END}\n\nafter\n")
    n = write_results(page, tmp_path, tables=["experiments/a/t.md", "experiments/a/missing.md"])
    text = page.read_text()
    assert n == 1 and "old" not in text and text.endswith("after\n")
    assert "| 1 |" in text and "(from `experiments/a/t.md`)" in text and "![t](a/t.png)" in text
    page.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        write_results(page, tmp_path, tables=[])


def test_generated_results_live_in_experiments_readme_not_in_readme():
    from bacuda_research.bench.results_page import END, START

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    page = (REPO_ROOT / "experiments" / "README.md").read_text(encoding="utf-8")
    assert START not in readme and END not in readme
    assert page.count(START) == 1 and page.count(END) == 1
    block = page.split(START, 1)[1].split(END, 1)[0]
    assert "(from `experiments/date_synthetic/comparison.md`)" in block
