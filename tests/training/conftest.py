"""A tiny simulator world and its exposure log, built once per test session (seeded, in memory)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from sitewide.models.encoders import HashedNgramEncoder
from sitewide.models.features import FeaturePipeline, ProductTable, UserTable
from sitewide.training.data import SimLog, product_texts, simulate_exposures, split_rows


@dataclass
class Tiny:
    world: object
    sim: SimLog
    pipeline: FeaturePipeline
    products: ProductTable
    users: UserTable
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    texts: list[str]


@pytest.fixture(scope="session")
def tiny() -> Tiny:
    from sitewide.simulator import SimConfig, build_world

    torch.set_num_threads(1)
    world = build_world(SimConfig(users=300, products=400, merchants=10, seed=1, target_cvr=0.1))
    enc = HashedNgramEncoder(dim=64)
    texts = product_texts(world)
    sim = simulate_exposures(world, 4_000, np.random.default_rng(0), enc, enc.encode(texts))
    products = ProductTable.from_products(world.product_list)
    users = UserTable.from_ids(world.users.ids)
    pipe = FeaturePipeline(products, users, n_positions=world.config.slots)
    tr, va, te = split_rows(4_000, [0.7, 0.1, 0.2], np.random.default_rng(1))
    return Tiny(world, sim, pipe, products, users, tr, va, te, texts)


@dataclass
class EngineLog:
    world: object
    engine: object
    sim: SimLog
    pipeline: FeaturePipeline


@pytest.fixture(scope="session")
def engine_log() -> EngineLog:
    """The tiny world served through the real engine's retrieval: whole candidate rows, a random slate shown."""
    from sitewide.engine import EngineConfig
    from sitewide.simulator import SimConfig, build_world
    from sitewide.training.data import simulate_engine_exposures
    from sitewide.wiring import world_engine

    torch.set_num_threads(1)
    world = build_world(SimConfig(users=300, products=400, merchants=10, seed=1, target_cvr=0.3))
    engine = world_engine(world, EngineConfig(scorer="priors", retrieve_k=40))
    sim = simulate_engine_exposures(world, engine, 8_000, np.random.default_rng(0), chunk=1_000)
    pipe = FeaturePipeline(
        ProductTable.from_products(world.product_list),
        UserTable.from_columns({}),
        n_positions=world.config.slots,
    )
    return EngineLog(world, engine, sim, pipe)
