"""The package's import order (``bacuda_research.LAYERS``, stated in the package docstring) holds for
every import in every module, function-local ones included, and no two modules import each other
in a loop."""

from __future__ import annotations

import ast
from pathlib import Path

import bacuda_research
from bacuda_research import LAYERS

PKG = Path(bacuda_research.__file__).parent
NAME = "bacuda_research"


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``bacuda_research`` module a file imports, anywhere in it (line, dotted name)."""
    mod = module_name(path)
    base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                stem = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            if stem == NAME or stem.startswith(NAME + "."):
                # `from bacuda_research.x import y` may import the submodule x.y
                for alias in node.names:
                    sub = f"{stem}.{alias.name}"
                    out.append((node.lineno, sub if _is_module(sub) else stem))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name == NAME or a.name.startswith(NAME + ".")]
    return out


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (PKG / rel).with_suffix(".py").is_file() or (PKG / rel / "__init__.py").is_file()


def unit(dotted: str) -> str | None:
    """The folder (or top-level module such as ``run``) a module belongs to; None for the package root."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else None


def tier(u: str) -> int:
    for i, layer in enumerate(LAYERS):
        if u in layer:
            return i
    raise AssertionError(f"{u!r} is in no layer of bacuda_research.LAYERS: add it to the package docstring's order")


def all_modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_folder_is_in_the_order():
    units = {unit(module_name(p)) for p in all_modules()} - {None}
    for u in units:
        tier(u)
    for u in (u for layer in LAYERS for u in layer):
        assert u in units, f"LAYERS names {u!r}, which does not exist"
    doc = bacuda_research.__doc__
    for u in units:
        assert f"``{u}``" in doc, f"the package docstring does not place {u!r}"


def test_imports_follow_the_order(capsys):
    bad = []
    for path in all_modules():
        src = module_name(path)
        su = unit(src)
        for line, target in package_imports(path):
            tu = unit(target)
            if su is None:
                bad.append(f"{path.relative_to(PKG.parent)}:{line}: the package root imports {target}")
                continue
            if tu is None or tu == su:
                continue
            if tier(tu) >= tier(su):
                bad.append(f"{path.relative_to(PKG.parent)}:{line}: {su} imports {target} "
                           f"({tu} is not below {su} in bacuda_research.LAYERS)")
    with capsys.disabled():
        print("\nimport order (a folder imports only from earlier lines):")
        for i, layer in enumerate(LAYERS, 1):
            print(f"  {i}. {' | '.join(layer)}")
    assert not bad, "imports against the package order:\n" + "\n".join(bad)


def test_no_module_import_loops():
    """No cycle between modules either (within a folder), counting function-local imports."""
    graph = {module_name(p): {t for _, t in package_imports(p)} for p in all_modules()}
    # a package's __init__ is imported with any of its submodules; modules importing their own package are fine
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if t == m or m.startswith(t + "."):
                continue
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t in graph and not state.get(t):
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m)
    assert not cycles, "import loops:\n" + "\n".join(cycles)


def test_the_checker_sees_function_local_imports(tmp_path, monkeypatch):
    """The parser counts imports inside functions (the ones that used to hide the loops)."""
    f = PKG / "core" / "_probe_for_test.py"
    assert not f.exists()
    f.write_text("def f():\n    from bacuda_research.fraud import task\n")
    try:
        assert (2, "bacuda_research.fraud.task") in package_imports(f)
        assert tier(unit("bacuda_research.fraud.task")) > tier(unit(module_name(f)))
    finally:
        f.unlink()
