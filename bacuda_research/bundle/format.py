"""Bundle folders: atomic writing, the manifest, and verification before anything is loaded.

A bundle is one folder holding everything a model needs at scoring time (ONNX graph, XGBoost
JSON, vocabularies, tokenizer, label map, weights as safetensors), a ``manifest.json`` and a model
card (``MODEL_CARD.md``). The manifest lists every other file with its size and sha256, the
library versions at export, the training config, metrics and data sha256.

``verify_bundle`` refuses a bundle whose files do not match the manifest (a file missing,
truncated, modified, or not listed) with an error naming the file; loaders call it before they
read anything. Only JSON, ONNX, safetensors and Markdown files are allowed: no pickle, ever.

This module is NumPy/torch-free: the scoring runtime imports it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

FORMAT = "bacuda-bundle/1"
MANIFEST = "manifest.json"
CARD = "MODEL_CARD.md"
KINDS = ("date", "hs")
# every file of a bundle has one of these suffixes (no pickle, no .pt/.ckpt/.pkl/.npy)
ALLOWED_SUFFIXES = (".json", ".onnx", ".safetensors", ".md")


class BundleError(ValueError):
    """A bundle was refused: the message names the bundle and, when it applies, the file."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    from bacuda_research.core.io import sha256_file as _sha

    return _sha(path, chunk)


def _listing(folder: Path) -> list[str]:
    """Every regular file below ``folder`` (relative POSIX paths), the manifest excluded."""
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() or p.is_symlink():
            rel = p.relative_to(folder).as_posix()
            if rel != MANIFEST:
                out.append(rel)
    return out


@contextlib.contextmanager
def _staging(outdir: Path, overwrite: bool) -> Iterator[Path]:
    """A hidden temporary folder beside ``outdir``, renamed onto it on success (removed on failure)."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise FileExistsError(f"{outdir}: exists and is not a folder")
    if outdir.is_dir() and any(outdir.iterdir()) and not overwrite:
        raise FileExistsError(f"{outdir}: folder exists and is not empty (choose another OUTDIR or pass --overwrite)")
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.tmp-", dir=outdir.parent))
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for f in tmp.rglob("*"):  # mkstemp-style 0600 files become ordinary 0644 files
            if f.is_file():
                os.chmod(f, 0o666 & ~umask)
        old = None
        if outdir.is_dir():
            if any(outdir.iterdir()):
                old = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old-", dir=outdir.parent))
                os.rmdir(old)
                os.replace(outdir, old)
            else:
                os.rmdir(outdir)
        os.replace(tmp, outdir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bundle(outdir: str | os.PathLike, kind: str, write_files: Callable[[Path], dict[str, Any]],
                 overwrite: bool = False) -> dict[str, Any]:
    """Build a bundle atomically: ``write_files(tmp)`` writes the payload (model card included)
    into a temporary folder and returns the manifest fields; the manifest (with the sha256 of
    every file) is written last and the folder renamed onto ``outdir``. Returns the manifest.
    """
    if kind not in KINDS:
        raise ValueError(f"bundle kind {kind!r}: expected one of {KINDS}")
    from bacuda_research.core.io import write_json

    with _staging(Path(outdir), overwrite) as tmp:
        fields = write_files(tmp)
        files = {}
        for rel in _listing(tmp):
            if not rel.endswith(ALLOWED_SUFFIXES):
                raise BundleError(f"{rel}: refusing to bundle a file of this type (allowed: {ALLOWED_SUFFIXES})")
            p = tmp / rel
            files[rel] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        manifest = {"format": FORMAT, "kind": kind, **fields, "files": files}
        write_json(tmp / MANIFEST, manifest)
    return manifest


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The parsed manifest of ``folder`` (format and kind checked), without checking the files."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BundleError(f"{folder}: not a bundle folder")
    if not path.is_file():
        raise BundleError(f"{folder}: not a bundle (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path}: manifest is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise BundleError(f"{path}: not a bacuda bundle manifest (format {got!r}, expected {FORMAT!r})")
    if manifest.get("kind") not in KINDS:
        raise BundleError(f"{path}: unknown bundle kind {manifest.get('kind')!r} (expected one of {KINDS})")
    if not isinstance(manifest.get("files"), dict) or not manifest["files"]:
        raise BundleError(f"{path}: the manifest lists no files")
    return manifest


_KIND_NAMES = {"date": "a DATE bundle", "hs": "an HS bundle"}


def verify_bundle(folder: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """Check every file against the manifest; return the manifest or raise ``BundleError``.

    With ``kind`` ("date" or "hs"), a verified bundle of another kind is refused too.

    Refused: a listed file that is missing, has another size (truncated or extended) or another
    sha256 (modified), a file that is not listed, and a path that leaves the folder.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    root = folder.resolve()
    problems = []
    for rel, meta in manifest["files"].items():
        p = folder / rel
        if not p.resolve().is_relative_to(root) or p.is_symlink():
            problems.append(f"{rel}: path leaves the bundle folder or is a symlink")
            continue
        if not p.is_file():
            problems.append(f"{rel}: missing")
            continue
        size = p.stat().st_size
        if size != int(meta["bytes"]):
            what = "truncated" if size < int(meta["bytes"]) else "larger than recorded"
            problems.append(f"{rel}: {what} ({size} bytes, the manifest says {meta['bytes']})")
            continue
        if sha256_file(p) != meta["sha256"]:
            problems.append(f"{rel}: sha256 does not match the manifest (the file was modified)")
    for rel in _listing(folder):
        if rel not in manifest["files"]:
            problems.append(f"{rel}: not listed in the manifest (unexpected file)")
    if problems:
        raise BundleError(f"{folder}: bundle refused, its files do not match {MANIFEST}: " + "; ".join(problems))
    if kind is not None and manifest["kind"] != kind:
        raise BundleError(f"{folder}: a {manifest['kind']!r} bundle, not {_KIND_NAMES.get(kind, kind)}")
    return manifest


def read_bytes(folder: str | os.PathLike, manifest: dict[str, Any], name: str) -> bytes:
    """A listed file's bytes, checked against the manifest once more as they are read (the file
    could change between ``verify_bundle`` and loading); loaders read only through here."""
    import hashlib

    meta = manifest["files"].get(name)
    if meta is None:
        raise BundleError(f"{folder}: {name} is not listed in the manifest (incomplete bundle)")
    try:
        data = (Path(folder) / name).read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{folder}: {name}: missing") from None
    if len(data) != int(meta["bytes"]) or hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise BundleError(f"{folder}: {name}: does not match the manifest (changed while loading?)")
    return data


def read_json(folder: str | os.PathLike, manifest: dict[str, Any], name: str) -> Any:
    """A listed JSON file, read through ``read_bytes``."""
    return json.loads(read_bytes(folder, manifest, name).decode("utf-8"))


def write_json_file(folder: Path, name: str, obj: Any) -> None:
    """Compact JSON (vocabularies can be large) inside a staging folder."""
    with open(Path(folder) / name, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
