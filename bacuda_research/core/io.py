"""Safe file output: everything is written to a temporary file beside the target and renamed.

A crash, a full disk or a Ctrl-C therefore never leaves a half-written report, prediction file or
checkpoint under its final name: readers see either the old file or the complete new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    On any exception the temporary file is removed and the target is left untouched.
    ``suffix`` defaults to the target's own suffix (some writers, e.g. pandas/pyarrow, look at it).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # hidden name with the target's suffix kept last (xgboost/pyarrow pick formats by suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", suffix=target.suffix if suffix is None else suffix,
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (non-finite floats become null)."""
    return write_text(path, json.dumps(_finite(obj), indent=2, sort_keys=False, default=str) + "\n")


def write_table(df: "Any", path: str | os.PathLike, escape: bool = True) -> Path:
    """Atomically write a DataFrame as CSV or Parquet, chosen by the file's suffix.

    CSV text cells that a spreadsheet would run as a formula get a leading ``'``
    (``escape_formulas``; ``escape=False`` for data files the pipeline reads back, whose values
    must not change); Parquet keeps every value as it is.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            (escape_formulas(df) if escape else df).to_csv(tmp, index=False)
        else:
            raise ValueError(f"{path}: unsupported table format {path.suffix!r} (use .csv or .parquet)")
    return path


# a text cell starting with one of these is a formula to Excel/LibreOffice/Sheets ("CSV injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formulas(df: "Any") -> "Any":
    """``df`` with every text cell that starts with ``= + - @``, a tab or a carriage return
    prefixed by ``'`` (spreadsheets show the cell as text instead of running it; the OWASP advice for
    CSV files). Only text (object/string) columns are touched, numbers never; returns ``df`` itself
    when nothing needs escaping, else a copy."""
    out = None
    for col in df.columns:
        values = df[col]
        if values.dtype != object and str(values.dtype) not in ("string", "str"):
            continue
        try:  # vectorised; non-strings in an object column give NaN -> False
            risky = values.str.startswith(FORMULA_STARTS, na=False).to_numpy(bool)
        except AttributeError:  # an object column holding no strings at all
            risky = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS)).to_numpy(bool)
        if risky.any():
            if out is None:
                out = df.copy()
            out[col] = values.where(~risky, "'" + values.astype(str))
    return df if out is None else out


def refuse_overwrite(output: str | os.PathLike, inputs: "Any", what: str = "output") -> None:
    """Raise ``ValueError`` when writing ``output`` would replace or change one of ``inputs``: the
    same resolved path (symlinks followed), the same file under another name (a hard link: same
    device and inode), or a path inside an input folder (a bundle or run folder)."""
    out = Path(output)
    target = out.resolve()
    try:
        out_stat = os.stat(out)
    except OSError:
        out_stat = None
    for item in inputs:
        if item is None:
            continue
        src = Path(item)
        resolved = src.resolve()
        same = target == resolved
        if not same and out_stat is not None:
            try:
                st = os.stat(src)
                same = (st.st_dev, st.st_ino) == (out_stat.st_dev, out_stat.st_ino)
            except OSError:
                pass
        if same:
            raise ValueError(f"{out}: the {what} would overwrite the input {src} (same file); refusing")
        if src.is_dir() and target.is_relative_to(resolved):
            raise ValueError(f"{out}: the {what} would be written inside the input folder {src}; choose another path")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _finite(obj: Any) -> Any:
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return _finite(obj.item())
    return obj
