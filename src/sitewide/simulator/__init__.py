"""Marketplace simulator: a calibrated world of users, merchants, products and campaigns, and the story that
drives any :class:`sitewide.ports.MarketEngine` through simulated days.

    from sitewide.simulator import SimConfig, run_simulation, summary_table
    from sitewide.wiring import world_engine_factory
    result = run_simulation(SimConfig.demo(), world_engine_factory())  # the real engine
    result.save("runs/demo")                           # ticks.parquet, campaigns.parquet, summary.json
"""

from sitewide.domain.time import DAY_MS
from sitewide.simulator.calibration import calibration_dict, calibration_report, calibration_rows
from sitewide.simulator.catalogue import load_catalogue
from sitewide.simulator.config import BASE_EPOCH_MS, SimConfig
from sitewide.simulator.metrics import SimResult, summary_table
from sitewide.simulator.runner import run_many, run_ray, run_simulation
from sitewide.simulator.world import World, build_world, examination

__all__ = [
    "BASE_EPOCH_MS",
    "DAY_MS",
    "SimConfig",
    "SimResult",
    "World",
    "build_world",
    "calibration_dict",
    "calibration_report",
    "calibration_rows",
    "examination",
    "load_catalogue",
    "run_many",
    "run_ray",
    "run_simulation",
    "summary_table",
]
