"""Reading a declarations file (CSV or Parquet) as it is, and the error every refusal raises.

Nothing here interprets values: CSV cells stay text so that validation, not the CSV parser, decides
what a value means. ``DataValidationError`` names the file, the column and the first offending rows
(1-based data rows; in a CSV, file line = row + 1) and never an identifier's value.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import os
import re
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

MAX_SHOWN = 5
# an offending value is shown cut to this many characters (a 50 MB cell must not reach stderr)
MAX_VALUE_CHARS = 40
#: every number the pipeline reads must be 0 or have MIN_ABS <= |x| <= MAX_ABS: such values, and any
#: ratio of two of them (unit prices, tax ratios: at most 1e36), stay finite and normal in float32
#: (largest 3.4e38, smallest normal 1.2e-38), which is what the tree stage and the network use.
#: 1e18 is far above any declared amount or quantity in any currency; 1e-18 far below any unit.
MAX_ABS = 1e18
MIN_ABS = 1e-18
CSV_SUFFIXES = (".csv", ".txt", ".gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

class DataValidationError(ValueError):
    """A declarations file was refused. Names the file, the column and the first offending rows."""

    def __init__(self, file: str | os.PathLike, problem: str, column: str | None = None,
                 rows: Sequence[int] = (), values: Sequence[object] = ()):
        self.file = str(file)
        self.column = column
        self.rows = [int(r) for r in rows]
        self.problem = problem
        where = f"column '{column}': " if column else ""
        msg = f"{self.file}: {where}{problem}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:MAX_SHOWN])
            more = f" (and {len(self.rows) - MAX_SHOWN} more)" if len(self.rows) > MAX_SHOWN else ""
            csv_hint = "; CSV line = row + 1" if not self.file.lower().endswith(PARQUET_SUFFIXES) else ""
            msg += f" at row(s) {shown}{more} (1-based data rows{csv_hint})"
        if len(values):
            msg += f"; offending values: {', '.join(_show(v) for v in list(values)[:MAX_SHOWN])}"
        super().__init__(msg)

    def __reduce__(self):
        # picklable (DataLoader workers, multirun launchers) despite the keyword-rich __init__
        return (_rebuild_error, (self.file, self.problem, self.column, self.rows, str(self)))


def _rebuild_error(file: str, problem: str, column: str | None, rows: list[int], message: str) -> DataValidationError:
    err = DataValidationError(file, problem, column, rows)
    err.args = (message,)
    return err


def _show(value: object) -> str:
    # numpy scalars repr as "np.float64(2.0)"; users want to see 2.0
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return f"{value[:MAX_VALUE_CHARS]!r}... ({len(value):,} characters)"  # cut, never whole
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS + 2 else text[:MAX_VALUE_CHARS] + "..."


def out_of_range(nums: np.ndarray) -> np.ndarray:
    """Finite values outside the documented range (``MIN_ABS <= |x| <= MAX_ABS``, or 0): True where refused."""
    a = np.abs(np.asarray(nums, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        return np.isfinite(a) & ((a > MAX_ABS) | ((a > 0) & (a < MIN_ABS)))


RANGE_PROBLEM = (f"number out of the supported range (0 or {MIN_ABS:g} <= |x| <= {MAX_ABS:g}, so that it and "
                 "its ratios stay finite in float32)")


def float32_matrix(frame: pd.DataFrame, columns: Sequence[str], source: str | None = None) -> np.ndarray:
    """``frame[columns]`` as the float32 matrix the tree stage reads; a value that becomes infinite
    in float32 (an extreme derived ratio) is a ``DataValidationError`` naming the column and rows.
    NaN (an allowed missing value) stays NaN: XGBoost reads it as missing."""
    X = frame[list(columns)].to_numpy(np.float32)
    bad = np.isinf(X)
    if bad.any():
        rows, cols = np.nonzero(bad)
        col = int(cols[0])
        raise DataValidationError(source or frame.attrs.get("source", "(input)"),
                                  "derived feature is infinite in float32 (extreme input values)",
                                  column=list(columns)[col], rows=(rows[cols == col] + 1).tolist())
    return X


def read_table(path: str | os.PathLike, max_rows: int | None = None, delimiter: str = ",") -> pd.DataFrame:
    """Read a CSV (strict UTF-8, every cell as text) or Parquet file without interpreting values.

    ``delimiter`` is the CSV field separator (a declared schema says it; DATE files use commas).

    CSV cells stay text so that validation, not the CSV parser, decides what a value means (the
    parser would turn "NA" into NaN, or a stray letter into a silently object-typed column).
    """
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, "file not found")
    if not path.is_file():
        raise DataValidationError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise DataValidationError(path, "the file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, max_rows)
    if suffix not in CSV_SUFFIXES:
        raise DataValidationError(path, f"unsupported format {suffix or '(no suffix)'!r} (use .csv, .csv.gz or .parquet)")
    return _read_csv(path, max_rows, delimiter)


def _read_parquet(path: Path, max_rows: int | None) -> pd.DataFrame:
    try:
        if max_rows:
            import pyarrow.parquet as pq

            batches = pq.ParquetFile(path).iter_batches(batch_size=int(max_rows))
            first = next(batches, None)
            return first.to_pandas() if first is not None else pd.read_parquet(path).iloc[:0]
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataValidationError(path, f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:80]})") from None


def _read_csv(path: Path, max_rows: int | None, delimiter: str = ",") -> pd.DataFrame:
    opts = dict(sep=delimiter, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
                encoding_errors="strict", skip_blank_lines=False)
    try:
        header = pd.read_csv(path, header=None, nrows=1, **opts)
        df = pd.read_csv(path, nrows=int(max_rows) if max_rows else None, **opts)
    except UnicodeDecodeError:
        try:
            err = _encoding_error(path, delimiter)
        except (OSError, EOFError, zlib.error) as exc2:
            err = DataValidationError(path, f"truncated or damaged compressed file ({type(exc2).__name__})")
        raise err from None
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError(path, "the file is empty (no header)") from exc
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            line = int(m.group(2))
            raise DataValidationError(path, f"row has {m.group(3)} fields, the header has {m.group(1)}",
                                      rows=[line - 1]) from exc
        raise DataValidationError(path, f"malformed CSV: {' '.join(str(exc).split())[:120]}") from None
    except (OSError, EOFError, zlib.error) as exc:  # permissions, a damaged or truncated .gz, ...
        what = "truncated or damaged compressed file" if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)) \
            else "cannot read the file"
        raise DataValidationError(path, f"{what} ({type(exc).__name__}: {str(exc)[:80]})") from None

    names = [str(v) for v in header.iloc[0].tolist()] if len(header) else []
    if not isinstance(df.index, pd.RangeIndex):
        # every row has more fields than the header (typically a trailing delimiter): pandas would
        # silently use the first column as the index and shift every column by one
        raise DataValidationError(path, "rows have more fields than the header (trailing delimiter?)",
                                  column=names[-1] if names else None, rows=[1])
    # pandas renamed a repeated header name's second copy to "<name>.1"; validation refuses it once
    # it knows the header is a header (in a headerless file the "names" are confidential data)
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        df.attrs["duplicate_columns"] = dups
    # blank lines are kept (skip_blank_lines=False) so that row numbers match file lines; trailing
    # blank lines are harmless editor artefacts, interior ones are refused by validation
    blank = (df == "").all(axis=1).to_numpy()
    n = len(df)
    while n and blank[n - 1]:
        n -= 1
    return df.iloc[:n] if n < len(df) else df


def _encoding_error(path: Path, delimiter: str = ",") -> DataValidationError:
    """Locate the first invalid UTF-8 byte (pandas reports an offset inside its read buffer only)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    base, newlines, header_line = 0, 0, b""
    offset, bad_byte = None, None
    with opener(path, "rb") as f:
        while chunk := f.read(1 << 20):
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                offset = base - len(pending) + exc.start
                data = pending + chunk
                bad_byte = data[exc.start]
                newlines += data[: exc.start].count(b"\n") - pending.count(b"\n")
                break
            newlines += chunk.count(b"\n")
            base += len(chunk)
    if offset is None:  # truncated multi-byte sequence at the very end
        offset, bad_byte = base, 0
    line = newlines + 1
    if offset < 2:
        with opener(path, "rb") as f:
            bom = f.read(2)
        if bom in (b"\xff\xfe", b"\xfe\xff"):
            return DataValidationError(path, "the file is UTF-16, not UTF-8; re-encode it "
                                       "(e.g. iconv -f utf-16 -t utf-8)")
    # the column: count the fields before the bad byte on its line (decoded leniently, never shown)
    column = None
    with opener(path, "rb") as f:
        header_line = f.readline()
        f.seek(0)
        head = f.read(offset + 1)
    start = head.rfind(b"\n", 0, offset) + 1
    prefix = head[start:offset].decode("utf-8", errors="replace")
    names = next(csv.reader([header_line.decode("utf-8", errors="replace").strip("\r\n\ufeff")], delimiter=delimiter), [])
    field = len(next(csv.reader([prefix], delimiter=delimiter), [""])) - 1 if prefix else 0
    if line > 1 and 0 <= field < len(names):
        column = names[field]
    return DataValidationError(
        path, f"not valid UTF-8 (byte 0x{bad_byte:02x} at byte offset {offset}, file line {line}); "
        "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        column=column, rows=[line - 1] if line > 1 else [],
    )
