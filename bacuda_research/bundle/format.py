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
# pickle-based formats, named in errors (the allow-list above already excludes them)
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".pt", ".pth", ".ckpt", ".npy", ".npz")


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


# a manifest larger than this is not one bacuda wrote (a few kB in practice)
MAX_MANIFEST_BYTES = 16 << 20


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The parsed manifest of ``folder`` (format, kind and every file entry checked), without
    checking the files."""
    return read_manifest_digest(folder)[0]


def read_manifest_digest(folder: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """``read_manifest`` and the sha256 of the very bytes parsed (what ``bacuda-export`` prints)."""
    import hashlib

    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BundleError(f"{folder}: not a bundle folder")
    if path.is_symlink():
        raise BundleError(f"{path}: the manifest is a symlink (it must be a regular file inside the bundle)")
    if not path.is_file():
        raise BundleError(f"{folder}: not a bundle (no {MANIFEST})")
    with open(path, "rb") as f:
        data = f.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{path}: manifest larger than {MAX_MANIFEST_BYTES >> 20} MB")
    manifest = _loads(data, f"{path}: manifest is not valid JSON")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise BundleError(f"{path}: not a bacuda bundle manifest (format {got!r}, expected {FORMAT!r})")
    if manifest.get("kind") not in KINDS:
        raise BundleError(f"{path}: unknown bundle kind {manifest.get('kind')!r} (expected one of {KINDS})")
    if not isinstance(manifest.get("files"), dict) or not manifest["files"]:
        raise BundleError(f"{path}: the manifest lists no files")
    for rel, meta in manifest["files"].items():
        _check_entry(path, rel, meta)
    return manifest, hashlib.sha256(data).hexdigest()


def _check_entry(path: Path, rel: Any, meta: Any) -> None:
    """One ``files`` entry: a relative path with an allowed suffix, its byte count and sha256."""
    shown = str(rel)[:60]
    if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str) or len(meta["sha256"]) != 64 \
            or not isinstance(meta.get("bytes"), int) or isinstance(meta["bytes"], bool) or meta["bytes"] < 0:
        raise BundleError(f"{path}: malformed entry for {shown!r} (expected {{\"bytes\": int, \"sha256\": hex}})")
    if not rel or rel.startswith("/") or "\\" in rel or ".." in rel.split("/"):
        raise BundleError(f"{path}: entry {shown!r} is not a plain relative path")
    if not rel.lower().endswith(ALLOWED_SUFFIXES) or rel.lower().endswith(PICKLE_SUFFIXES):
        raise BundleError(f"{path}: {shown!r}: refusing a file of this type in a bundle, listed or not "
                          f"(allowed: {', '.join(ALLOWED_SUFFIXES)}; never pickle)")


_KIND_NAMES = {"date": "a DATE bundle", "hs": "an HS bundle"}


def verify_bundle(folder: str | os.PathLike, kind: str | None = None,
                  expect_sha256: str | None = None) -> dict[str, Any]:
    """``verify_bundle_digest`` without the digest."""
    return verify_bundle_digest(folder, kind, expect_sha256)[0]


def verify_bundle_digest(folder: str | os.PathLike, kind: str | None = None,
                         expect_sha256: str | None = None) -> tuple[dict[str, Any], str]:
    """Check every file against the manifest; return the manifest and the sha256 of its bytes, or
    raise ``BundleError``.

    With ``kind`` ("date" or "hs"), a verified bundle of another kind is refused too. With
    ``expect_sha256`` (the manifest digest ``bacuda-export`` printed: the trust anchor), a bundle
    whose ``manifest.json`` has any other sha256 is refused before anything else is read: whoever
    can edit the folder can recompute the manifest, not this digest.

    Refused: a listed file that is missing, has another size (truncated or extended) or another
    sha256 (modified), a file that is not listed, and a path that leaves the folder.
    """
    folder = Path(folder)
    manifest, got = read_manifest_digest(folder)
    if expect_sha256 is not None:
        want = expect_sha256.strip().lower()
        if got != want:
            raise BundleError(f"{folder}: bundle refused: sha256 of {MANIFEST} is {got}, expected {want[:64]} "
                              "(--expect-sha256): not the bundle you were given")
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
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise BundleError(f"{folder}: bundle refused, its files do not match {MANIFEST}: "
                          + "; ".join(problems[:5]) + more)
    if kind is not None and manifest["kind"] != kind:
        raise BundleError(f"{folder}: a {manifest['kind']!r} bundle, not {_KIND_NAMES.get(kind, kind)}")
    return manifest, got


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
    """A listed JSON file, read through ``read_bytes`` (unparsable or too deeply nested: ``BundleError``)."""
    return _loads(read_bytes(folder, manifest, name), f"{folder}/{name}: not valid JSON")


def _loads(data: bytes, what: str) -> Any:
    """``data`` parsed as UTF-8 JSON; unparsable or too deeply nested: ``BundleError(what (why))``."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{what} ({str(e)[:80]})") from None
    except RecursionError:
        raise BundleError(f"{what} (nested too deeply)") from None


def write_json_file(folder: Path, name: str, obj: Any) -> None:
    """Compact JSON (vocabularies can be large) inside a staging folder."""
    with open(Path(folder) / name, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
