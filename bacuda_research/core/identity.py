"""Which config keys decide a run's numbers: one definition, used by resume and by the suites.

``config_identity(config)`` is the part of a resolved config that changes a result; two runs with
equal identities (and the same data, compared by sha256) are the same run. ``run_key`` hashes it
with the data's sha256: a run folder resumes only a run with the same key, and a benchmark suite
skips a finished run whose identity equals the planned one (``bacuda-bench``, ``--check``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Sequence

# Config keys that never change a run's numbers: ignored when deciding whether a finished run has
# "the same config" (resume) and when a table checks that its runs belong to one experiment.
# data.path is compared through the data's sha256 instead (the same file may live elsewhere).
RESULT_NEUTRAL = (
    "cache_dir", "resume", "logger", "predictions_file", "scores_file", "data.path", "malloc_keep_freed",
    # a declared schema's path and a split's files: compared through data.schema_digest (the schema's
    # content, added when the run starts) and the data hash over all files instead
    "data.schema", "data.files",
    "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.log_every_n_steps",
)
# ... options that are off: (key, value meaning off, keys dropped then). Runs recorded before the
# option existed have none of these keys, and with the option off the numbers are the same.
OFF_OPTIONS = (
    ("model.revenue_ranking", "head", ("model.revenue_ranking", "model.revenue_given_illicit")),
    # runs before the native leaf-attention kernel used PyTorch's (sdpa); without self-attention
    # the kernel is never called
    ("model.net.attention_kernel", "sdpa", ("model.net.attention_kernel",)),
    ("model.net.self_attention", False, ("model.net.attention_kernel",)),
    # runs before declared schemas had DATE's features and no features.kind key
    ("features.kind", "date", ("features.kind",)),
    # runs before the synthetic generator had drift (declarations/drift.py); off, its data is
    # byte-identical and its knobs unread
    ("data.synthetic.drift.enabled", False, ("data.synthetic.drift",)),
    # HS runs before the real goods descriptions (issue 17) had no data.real; null is that
    ("data.real", None, ("data.real",)),
)
# ... and keys a model family never reads: the classic baselines (random, risky, XGBoost variants)
# train no network, so the Lightning trainer and the batch settings cannot change their numbers.
UNUSED_BY_FAMILY = {"classic": ("trainer", "data.batch_size", "data.num_workers")}


def _drop(d: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        d = d.get(p) if isinstance(d, dict) else None
        if d is None:
            return
    if isinstance(d, dict):
        d.pop(last, None)


def config_identity(config: Mapping[str, Any], *, ignore_seed: bool = False,
                    extra_ignored: Sequence[str] = ()) -> dict[str, Any]:
    """The part of a resolved config that decides a run's numbers (a deep copy)."""
    ident = json.loads(json.dumps(config, default=str))
    family = (ident.get("model") or {}).get("family", "classic")
    for key, off, keys in OFF_OPTIONS:
        if _get(ident, key, off) == off:
            for k in keys:
                _drop(ident, k)
    for key in (*RESULT_NEUTRAL, *UNUSED_BY_FAMILY.get(family, ()), *(("seed",) if ignore_seed else ()),
                *extra_ignored):
        _drop(ident, key)
    return ident


def _get(d: Any, dotted: str, default: Any) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return default
        d = d[part]
    return d


def config_diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two (nested) configs differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            key = f"{prefix}.{k}" if prefix else str(k)
            if k not in a:
                out.append(f"{key}: missing -> {b[k]!r}")
            elif k not in b:
                out.append(f"{key}: {a[k]!r} -> missing")
            else:
                out.extend(config_diff(a[k], b[k], key))
        return out
    return [] if a == b else [f"{prefix}: {a!r} -> {b!r}"]


def run_key(config: Mapping[str, Any], data_sha256: str | None) -> str:
    """A short hash of a run's identity and data: what resume compares (``last.ckpt`` records it)."""
    ident = {"config": config_identity(config), "data_sha256": data_sha256}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]
