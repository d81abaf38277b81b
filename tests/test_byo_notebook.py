"""docs/byo_declarations.ipynb runs top to bottom (its code cells in order, in one namespace).

Jupyter is not a dependency: the notebook is JSON, and its code cells are plain Python.
"""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "byo_declarations.ipynb"


def code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_the_guide_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    monkeypatch.setenv("BYO_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    cells = code_cells(NOTEBOOK)
    assert len(cells) >= 5
    for i, source in enumerate(cells):
        exec(compile(source, f"{NOTEBOOK.name}[code cell {i}]", "exec"), namespace)
    report = namespace["report"]
    assert report["tasks"] == ["illicit"] and report["features"]["kind"] == "auto"
    assert (tmp_path / "run" / "DONE").is_file()


def test_the_notebook_is_saved_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
