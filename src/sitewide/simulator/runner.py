"""Runners: one market in-process, or many independent markets/seeds sharded over Ray workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sitewide.ports import MarketEngine
from sitewide.simulator.config import SimConfig
from sitewide.simulator.metrics import SimResult
from sitewide.simulator.story import Story, check_engine
from sitewide.simulator.world import World, build_world

EngineFactory = Callable[[World], MarketEngine]


def run_simulation(config: SimConfig, make_engine: EngineFactory, progress: bool = True) -> SimResult:
    """Build the world for ``config``, hand it to ``make_engine`` and run the story; deterministic per seed
    (given a deterministic engine). The real engine's factory is ``sitewide.wiring.world_engine_factory``:
    the simulator reaches an engine only through the ``MarketEngine`` port."""
    world = build_world(config)
    engine = make_engine(world)
    check_engine(engine)
    if not progress:
        return Story(world, engine).run()
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(
            f"simulating {config.days} d × {config.users} users", total=config.days * config.ticks_per_day
        )
        return Story(world, engine, on_tick=lambda: bar.advance(task)).run()


def _run_one(config: SimConfig, make_engine: EngineFactory) -> SimResult:
    return run_simulation(config, make_engine, progress=False)


def run_many(configs: Sequence[SimConfig], make_engine: EngineFactory) -> list[SimResult]:
    """Independent markets one after another in this process (the reference for :func:`run_ray`)."""
    return [_run_one(c, make_engine) for c in configs]


@contextmanager
def ray_session(
    address: str | None = None, num_cpus: int | None = None, **init_kwargs: Any
) -> Iterator[None]:
    """Ray for the block: joined when already initialised (left running), else started — a local Ray for
    ``address=None``, a cluster for ``"auto"`` or ``"ray://host:10001"`` — and shut down after. Needs the ``ray``
    extra."""
    import ray  # optional extra

    if ray.is_initialized():
        yield
        return
    kwargs: dict[str, Any] = dict(init_kwargs)
    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("log_to_driver", False)
    if num_cpus is not None and address is None:
        kwargs["num_cpus"] = num_cpus
    ray.init(address=address, **kwargs)
    try:
        yield
    finally:
        ray.shutdown()


def run_ray(
    configs: Sequence[SimConfig],
    make_engine: EngineFactory,
    address: str | None = None,
    num_cpus: int | None = None,
    **init_kwargs: Any,
) -> list[SimResult]:
    """Independent markets (or seeds) on Ray workers, one task each; results in the order of ``configs``.

    ``address=None`` starts a local Ray (``ray.init()``); pass ``"auto"`` or ``"ray://host:10001"`` to join a
    cluster. Needs the ``ray`` extra. Each worker builds its own world and engine, so results equal
    :func:`run_many`'s for the same configs.
    """
    import ray  # optional extra

    with ray_session(address, num_cpus, **init_kwargs):
        remote = ray.remote(num_cpus=1)(_run_one)
        refs = [remote.remote(c, make_engine) for c in configs]
        return list(ray.get(refs))
