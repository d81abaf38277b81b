"""One simulation run from a composed ``simulate`` config: ``simulate(cfg, run_dir) -> record``.

config -> seed/threads -> data (all rows, labels to the oracle) -> windows and plan -> strategy
-> ``Simulator`` (resumes a killed run in the same folder) -> ``simulation.json``, plots, ``DONE``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from bacuda_research.core.identity import run_key
from bacuda_research.core.runtime import device_info, git_sha, seed_everything, set_threads, versions
from bacuda_research.simulation.data import load_sim_data
from bacuda_research.simulation.folder import RunFolder, summary, week_table
from bacuda_research.simulation.plans import inspection_plan, resolve_windows
from bacuda_research.simulation.registry import build_strategy, needs_date
from bacuda_research.simulation.simulator import Simulator

log = logging.getLogger("bacuda_research")
# keys that never change a simulation's numbers (resume compares the rest)
NEUTRAL = ("simulation.max_weeks_this_call", "simulation.plots")


def strategy_spec(cfg: DictConfig) -> dict[str, Any]:
    """The strategy's config with the shared model settings (``models``) filled in."""
    spec = OmegaConf.to_container(cfg.strategy, resolve=True)
    return {"models": OmegaConf.to_container(cfg.models, resolve=True), **spec}


def identity(config: Mapping[str, Any], data_sha256: str) -> str:
    ident = {k: v for k, v in config.items() if k != "hydra"}
    sim = dict(ident.get("simulation", {}))
    for key in NEUTRAL:
        sim.pop(key.split(".", 1)[1], None)
    return run_key({**ident, "simulation": sim}, data_sha256)


def simulate(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Run (or resume) the configured simulation in ``run_dir``; returns ``simulation.json``'s
    content (``summary`` empty when ``simulation.max_weeks_this_call`` stopped it early)."""
    t0 = time.perf_counter()
    folder = RunFolder(run_dir)
    threads = set_threads(cfg.get("threads"))
    seed_everything(int(cfg.seed))
    sim = cfg.simulation
    data = load_sim_data(OmegaConf.to_container(cfg.data, resolve=True), cfg.cache_dir)
    windows = resolve_windows(data.frame["sgd.date"], sim.train_from, sim.test_from, int(sim.history_days),
                              int(sim.valid_length), int(sim.test_length))
    p = cfg.plan
    plan = inspection_plan(p.kind, int(sim.weeks), p.initial_rate, p.final_rate, p.decay_weeks, p.get("rates"))
    spec = strategy_spec(cfg)
    strategy = build_strategy(spec)
    config = OmegaConf.to_container(cfg, resolve=True)
    date_factory = model_state = None
    if needs_date(spec):
        from bacuda_research.simulation.date_fit import WeeklyDATE

        fitter = WeeklyDATE(OmegaConf.to_container(cfg.date, resolve=True),
                            OmegaConf.to_container(cfg.date_fit, resolve=True), threads=threads)
        date_factory, model_state = fitter.outputs, fitter
    simulator = Simulator(data, strategy, windows, plan, OmegaConf.to_container(cfg.features, resolve=True), folder,
                          seed=int(cfg.seed), masking=sim.masking, history_label_rate=float(sim.history_label_rate),
                          threads=threads, identity=identity(config, data.data_sha256),
                          date_factory=date_factory, model_state=model_state)
    finished = simulator.run(sim.get("max_weeks_this_call"))
    weeks = week_table(simulator.weeks)
    record = {
        "config": config, "seed": int(cfg.seed), "data_sha256": data.data_sha256, "git_sha": git_sha(),
        "versions": versions(), "device": device_info(threads), "threads": threads,
        "windows": {"train_from": str(windows.train_from.date()), "test_from": str(windows.test_from.date()),
                    "valid_length": windows.valid_length, "test_length": windows.test_length},
        "revenue": data.oracle.has_revenue, "finished": finished,
        "summary": summary(weeks) if finished else {},
        "wall_time_s_last_call": round(time.perf_counter() - t0, 3),
    }
    if not finished:
        log.info("stopped after %d weeks (simulation.max_weeks_this_call); run again to continue", len(weeks))
        return record
    if sim.get("plots", True) and len(weeks):
        from bacuda_research.simulation.plots import write_plots

        write_plots(weeks, folder.path / "plots", title=f"{spec.get('name')} on {cfg.data.name} (seed {cfg.seed})")
    folder.finish(record)
    return record
