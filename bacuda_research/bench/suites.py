"""Benchmark suites: models x datasets x seeds, one ``report.json`` per run, resumable and checkable.

A suite (``conf/bench/<name>.yaml``) lists groups of runs. Each group has fixed Hydra overrides, a
grid of overrides (every combination is run), the seeds, and the run folder as a template::

    name: date_synthetic
    seeds: [0, 1, 2, 3, 4]
    groups:
      - name: baselines
        overrides: [experiment=date_synthetic_baselines]
        grid: {model: [random, xgboost], features.risk_flags: [reference, out_of_fold]}
        dir: experiments/date_synthetic/baselines/{model}-{features.risk_flags}-s{seed}

Every run composes ``conf/train.yaml`` with ``[*overrides, *grid combination, seed=S]`` exactly as
``bacuda-train`` would, runs :func:`bacuda_research.run.run` in this process and writes
``report.json`` + ``DONE`` into its folder. A folder already holding a finished run with the same
config (results-neutral keys aside, data compared by sha256) is skipped, so an interrupted suite
resumes where it stopped (the interrupted run itself starts again from scratch).
:func:`check_report` re-runs a report's recorded config (seed, thread count)
and compares every metric exactly.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from bacuda_research.core.identity import config_diff, config_identity
from bacuda_research.core.paths import CONF_DIR, project_dir, shared_dir

log = logging.getLogger("bacuda_research")

SUITE_DIR = Path(CONF_DIR) / "bench"

# ----------------------------------------------------------------------------------------- suites
@dataclass
class PlannedRun:
    """One run of a suite: where it goes and the overrides that compose its config."""

    group: str
    run_dir: Path
    overrides: list[str]
    seed: int
    status: str = "todo"  # todo | done | changed (a finished run with another config: re-run)
    reason: str = ""
    cfg: DictConfig | None = field(default=None, repr=False)
    choices: dict[str, Any] = field(default_factory=dict, repr=False)


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.yaml"))


def load_suite(name_or_path: str) -> DictConfig:
    """A suite by name (``conf/bench/<name>.yaml``) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SUITE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"suite {name_or_path!r}: no file {path} (suites: {', '.join(suite_names())})")
    suite = OmegaConf.load(path)
    for key in ("name", "seeds", "groups"):
        if key not in suite:
            raise ValueError(f"suite {path}: missing key {key!r}")
    for i, g in enumerate(suite.groups):
        for key in ("name", "dir"):
            if key not in g:
                raise ValueError(f"suite {path}: group {i} lacks {key!r}")
    return suite


def _fill(template: str, values: Mapping[str, Any], where: str) -> str:
    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key not in values:
            raise ValueError(f"{where}: {{{key}}} is neither a grid key nor 'seed' (have {sorted(values)})")
        return str(values[key])

    return re.sub(r"\{([^{}]+)\}", sub, template)


def plan(suite: DictConfig, root: str | Path | None = None, groups: Sequence[str] | None = None,
         seeds: Sequence[int] | None = None) -> list[PlannedRun]:
    """Expand a suite into its runs (no composing yet), in a stable order (``root``: the project folder)."""
    root = project_dir() if root is None else root
    known = [g.name for g in suite.groups]
    if groups:
        unknown = sorted(set(groups) - set(known))
        if unknown:
            raise ValueError(f"suite {suite.name}: no group(s) {unknown} (groups: {known})")
    runs: list[PlannedRun] = []
    for g in suite.groups:
        if groups and g.name not in groups:
            continue
        grid = OmegaConf.to_container(g.grid, resolve=True) if g.get("grid") else {}
        keys = list(grid)
        group_seeds = list(g.get("seeds") or suite.seeds)
        for combo in itertools.product(*(grid[k] for k in keys)):
            for seed in group_seeds:
                if seeds is not None and int(seed) not in seeds:
                    continue
                values = {**dict(zip(keys, combo)), "seed": int(seed)}
                run_dir = Path(root) / _fill(str(g.dir), values, f"suite {suite.name}, group {g.name}, dir")
                overrides = [*list(g.get("overrides") or []), *(f"{k}={v}" for k, v in zip(keys, combo)),
                             f"seed={int(seed)}"]
                runs.append(PlannedRun(group=str(g.name), run_dir=run_dir, overrides=overrides, seed=int(seed)))
    dirs = [r.run_dir for r in runs]
    dup = {d for d in dirs if dirs.count(d) > 1}
    if dup:
        raise ValueError(f"suite {suite.name}: several runs would share a folder: {sorted(map(str, dup))[:3]}")
    return runs


def compose_run(overrides: Sequence[str]) -> tuple[DictConfig, dict[str, Any]]:
    """The config ``bacuda-train OVERRIDES`` would run, and its Hydra group choices (as recorded by it)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from bacuda_research.core.config import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(Path(CONF_DIR).resolve()), version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    choices = OmegaConf.to_container(cfg.hydra.runtime.choices, resolve=False)
    with open_dict(cfg):
        del cfg["hydra"]
    from bacuda_research.fraud.declared_data import add_schema_digest

    add_schema_digest(cfg)  # what the run will record (the schema's content, not its path)
    return cfg, dict(choices)


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _data_sha(cfg: DictConfig) -> str | None:
    files = cfg.data.get("files")
    if files and all(Path(str(p)).is_file() for p in files.values()):
        from bacuda_research.declarations.declared import data_hash

        return data_hash([files[s] for s in ("train", "valid", "test")])
    path = cfg.data.get("path")
    if not path or not Path(str(path)).is_file():
        return None
    from bacuda_research.core.io import sha256_file

    st = Path(str(path)).stat()
    key = (str(Path(str(path)).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def finished_status(run: PlannedRun) -> tuple[str, str]:
    """``done`` when the folder holds a finished run of this very config, ``changed`` when it holds
    another one, ``todo`` when it holds none (``reason`` says why)."""
    report_path, done = run.run_dir / "report.json", run.run_dir / "DONE"
    if not (report_path.is_file() and done.is_file()):
        return "todo", "no finished run" if not report_path.exists() else "interrupted run (no DONE)"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert run.cfg is not None
    want = config_identity(OmegaConf.to_container(run.cfg, resolve=True))
    have = config_identity(report.get("config", {}))
    diff = config_diff(have, want)
    if diff:
        return "changed", "config differs: " + "; ".join(diff[:4]) + (" ..." if len(diff) > 4 else "")
    sha = _data_sha(run.cfg)
    if sha and report.get("data_sha256") != sha:
        return "changed", f"data differs: report sha256 {str(report.get('data_sha256'))[:12]}, file {sha[:12]}"
    return "done", ""


def resolve_statuses(runs: Sequence[PlannedRun], force: bool = False) -> None:
    """Compose every run's config and decide whether it must run."""
    for r in runs:
        r.cfg, r.choices = compose_run(r.overrides)
        if force:
            r.status, r.reason = "todo", "--force"
        else:
            r.status, r.reason = finished_status(r)


# ------------------------------------------------------------------------------------------ runs
@contextlib.contextmanager
def run_log(run_dir: Path) -> Iterator[None]:
    """Send the run's log lines to ``<run dir>/train.log`` as well (as ``bacuda-train`` does)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / "train.log", mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def execute(run: PlannedRun) -> dict[str, Any]:
    """Run one planned run in this process, from scratch.

    The folder loses its ``DONE`` and its ``checkpoints/`` first. A finished run's ``last.ckpt``
    must never be resumed from (same config: nothing would be trained; another config: the resume
    check refuses), and an interrupted run is restarted rather than resumed: a resumed run is not
    guaranteed to be bitwise equal to an uninterrupted one, and suite results must be.
    """
    import shutil

    from bacuda_research.run import run as pipeline_run

    assert run.cfg is not None
    done = run.run_dir / "DONE"
    if done.exists():
        done.unlink()  # not a finished run until the new report lands
    ckpts = run.run_dir / "checkpoints"
    if ckpts.is_dir():
        shutil.rmtree(ckpts)
        log.info("bacuda-bench: removed the earlier checkpoints in %s (runs start from scratch)", ckpts)
    with run_log(run.run_dir):
        log.info("bacuda-bench: %s", " ".join(run.overrides))
        return pipeline_run(run.cfg, run.run_dir, hydra_choices=run.choices)


# -------------------------------------------------------------------------------------- checking
def metric_differences(recorded: Mapping[str, Any], rerun: Mapping[str, Any]) -> list[str]:
    """Every metric whose value is not exactly the same (NaN equals NaN; missing keys count).

    Wall-clock entries (``time/...``, e.g. the HS runs' ``time/fit_s``) are measurements of the
    machine, not results, and are not compared.
    """
    out = []
    for k in sorted(set(recorded) | set(rerun)):
        if str(k).startswith("time/"):
            continue
        a, b = recorded.get(k, "missing"), rerun.get(k, "missing")
        same = a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
        if not same:
            delta = f" (diff {b - a:+.3g})" if isinstance(a, (int, float)) and isinstance(b, (int, float)) else ""
            out.append(f"{k}: recorded {a!r}, rerun {b!r}{delta}")
    return out


def _portable_data_path(path: str | None) -> str | None:
    """A recorded absolute path below some ``.../shared/`` folder, moved to this machine's shared folder."""
    if not path or Path(path).is_file():
        return path
    marker = "/shared/"
    if marker in path:
        moved = shared_dir() / path.split(marker, 1)[1]
        if moved.is_file():
            return str(moved)
    return path


def check_config(report: Mapping[str, Any], overrides: Sequence[str] = (),
                 cache_dir: str | Path | None = None) -> DictConfig:
    """The recorded config, ready to re-run here: recorded seed and thread count, portable data path."""
    cfg = OmegaConf.create(report["config"])
    with open_dict(cfg):
        if cfg.get("threads") is None:
            cfg.threads = int(report.get("device", {}).get("torch_threads") or 1)
        cfg.seed = int(report["seed"])
        cfg.data.path = _portable_data_path(cfg.data.get("path"))
        cfg.predictions_file = None
        cfg.scores_file = None
        if cache_dir is not None:
            cfg.cache_dir = str(cache_dir)
    for o in overrides:
        if "=" not in o:
            raise ValueError(f"override {o!r}: expected key=value")
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides))) if overrides else cfg


@dataclass
class CheckResult:
    report: Path
    differences: list[str]
    notes: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.differences


def check_report(report_path: str | Path, overrides: Sequence[str] = (), reuse_cache: bool = False) -> CheckResult:
    """Re-run a report's recorded config in a scratch folder and compare every metric exactly.

    A fresh cache is used unless ``reuse_cache`` (cached XGBoost stages would otherwise be reused,
    and the check would not re-fit them).
    """
    from bacuda_research.run import run as pipeline_run

    path = Path(report_path)
    if path.is_dir():
        path = path / "report.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    notes: list[str] = []
    from bacuda_research.core.runtime import versions

    here = versions()
    for lib, v in sorted((report.get("versions") or {}).items()):
        if lib in here and here[lib] != v:
            notes.append(f"version {lib}: recorded {v}, here {here[lib]}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bacuda-check-") as tmp:
        cfg = check_config(report, overrides, cache_dir=None if reuse_cache else Path(tmp) / "cache")
        if cfg.data.get("path") and not Path(cfg.data.path).is_file():
            raise FileNotFoundError(f"{path}: recorded data file {cfg.data.path} not found here "
                                    f"(pass data.path=... to point at the same file)")
        rerun = pipeline_run(cfg, Path(tmp) / "run", hydra_choices=report.get("hydra_choices"))
    diffs = metric_differences(report.get("metrics", {}), rerun["metrics"])
    if report.get("data_sha256") != rerun.get("data_sha256"):
        diffs.insert(0, f"data_sha256: recorded {report.get('data_sha256')}, rerun {rerun.get('data_sha256')}")
    return CheckResult(report=path, differences=diffs, notes=notes, seconds=time.perf_counter() - t0)


def compare_trees(recorded_root: str | Path, other_root: str | Path) -> dict[str, list[str]]:
    """Metric differences between the finished runs of ``other_root`` (e.g. a re-run) and the
    recorded runs at the same relative paths. Recorded runs that were not re-run are not compared;
    a run with no recorded counterpart is a difference."""
    from bacuda_research.bench.tables import find_reports

    a_root, b_root = Path(recorded_root), Path(other_root)
    a = {p.parent.relative_to(a_root): p for p in find_reports([a_root])}
    b = {p.parent.relative_to(b_root): p for p in find_reports([b_root])}
    out: dict[str, list[str]] = {}
    for rel in sorted(b):
        if rel not in a:
            out[str(rel)] = [f"no recorded run at {a_root / rel}"]
            continue
        ra, rb = (json.loads(p.read_text(encoding="utf-8")) for p in (a[rel], b[rel]))
        d = metric_differences(ra["metrics"], rb["metrics"])
        if ra.get("data_sha256") != rb.get("data_sha256"):
            d.insert(0, "data_sha256 differs")
        out[str(rel)] = d
    return out
