"""Runners: one market in-process, or many independent markets/seeds sharded over Ray workers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sitewide.domain.types import ValidationError
from sitewide.ports import MarketEngine
from sitewide.simulator.config import SimConfig
from sitewide.simulator.metrics import SimResult
from sitewide.simulator.story import Story, check_engine
from sitewide.simulator.world import World, build_world

if TYPE_CHECKING:  # the simulator does not need the engine to import
    from sitewide.engine import EngineConfig

EngineFactory = Callable[[World], MarketEngine]


def default_engine_factory(world: World, config: EngineConfig | None = None) -> MarketEngine:
    """The real engine over an in-memory store, loaded with the world's shops, products and campaigns, and
    told the products' signals and the shops' service metrics. ``config`` sets the operator's knobs (auction
    α and reserve, pool and shop score on/off, …); its ``slots`` always follows the world's."""
    from sitewide.engine import Engine, EngineConfig  # lazy: the simulator does not need the engine to import
    from sitewide.storage.memory import MemoryStore

    cfg = replace(config or EngineConfig(), slots=world.config.slots)
    engine: MarketEngine = Engine.build(
        store=MemoryStore(),
        shops=world.shops,
        products=world.product_list,
        campaigns=world.campaigns_starting(0),
        config=cfg,
    )
    set_quality = getattr(engine, "set_quality", None)
    if set_quality is not None:  # shop experience score and eligibility pool from the world's metrics
        set_quality(world.product_signals(), world.shop_metrics())
    return engine


def engine_factory(config: EngineConfig) -> EngineFactory:
    """An :data:`EngineFactory` building the default (real, in-memory) engine with ``config``."""

    def make(world: World) -> MarketEngine:
        return default_engine_factory(world, config)

    return make


def run_simulation(
    config: SimConfig,
    make_engine: EngineFactory | None = None,
    progress: bool = True,
    *,
    engine_config: EngineConfig | None = None,
) -> SimResult:
    """Build the world for ``config``, hand it to ``make_engine`` and run the story; deterministic per seed
    (given a deterministic engine). ``engine_config`` runs the default engine with those settings (give it or
    ``make_engine``, not both)."""
    if make_engine is not None and engine_config is not None:
        raise ValidationError("give make_engine or engine_config, not both")
    world = build_world(config)
    if engine_config is not None:
        make_engine = engine_factory(engine_config)
    engine = (make_engine or default_engine_factory)(world)
    check_engine(engine)
    if not progress:
        return Story(world, engine).run()
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(
            f"simulating {config.days} d × {config.users} users", total=config.days * config.ticks_per_day
        )
        return Story(world, engine, on_tick=lambda: bar.advance(task)).run()


def _run_one(config: SimConfig, make_engine: EngineFactory | None) -> SimResult:
    return run_simulation(config, make_engine, progress=False)


def run_many(configs: Sequence[SimConfig], make_engine: EngineFactory | None = None) -> list[SimResult]:
    """Independent markets one after another in this process (the reference for :func:`run_ray`)."""
    return [_run_one(c, make_engine) for c in configs]


def run_ray(
    configs: Sequence[SimConfig],
    make_engine: EngineFactory | None = None,
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

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = dict(init_kwargs)
        kwargs.setdefault("include_dashboard", False)
        kwargs.setdefault("log_to_driver", False)
        if num_cpus is not None and address is None:
            kwargs["num_cpus"] = num_cpus
        ray.init(address=address, **kwargs)
        started = True
    try:
        remote = ray.remote(num_cpus=1)(_run_one)
        refs = [remote.remote(c, make_engine) for c in configs]
        return list(ray.get(refs))
    finally:
        if started:
            ray.shutdown()
