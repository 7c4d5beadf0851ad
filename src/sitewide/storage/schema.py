"""The tables, read from the migrated database: the Alembic migrations are the one definition of the schema.

``tables(engine)`` upgrades nothing; it reflects the tables the adapters use from a database the caller has
already brought to a revision (``migrate.upgrade``), and caches the result per dialect and revision (the
reflected ``Table`` objects are bound to no connection, so every database of that dialect at that revision
shares them). A table that no migration creates fails at start, not at the first query; the contract suite
(``tests/storage``) exercises every column on SQLite and PostgreSQL, and ``test_schema.py`` checks that a fresh
database gets every table from the migrations alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import MetaData, Table
from sqlalchemy.engine import Engine

from sitewide.storage.migrate import current_revision

STORE_TABLES = {
    "shops": "shops",
    "products": "products",
    "campaigns": "campaigns",
    "campaign_terms": "campaign_terms",
    "events": "events",
    "transactions": "transactions",
    "entries": "ledger_entries",
    "runs": "settlement_runs",
    "day_figures": "settlement_days",
    "product_figures": "settlement_products",
    "evals": "guarantee_evaluations",
    "contracts": "guarantee_contracts",
    "experiments": "experiments",
    "brand_kits": "brand_kits",
    "creatives": "creatives",
    "budget_draws": "budget_draws",
    "versions": "store_versions",
    "holdout_shares": "holdout_shares",
    "holdout_entries": "holdout_entries",
}
ACCOUNT_TABLES = {
    "merchants": "acct_merchants",
    "keys": "acct_api_keys",
    "key_audit": "acct_key_audit",
    "product_signals": "acct_product_signals",
    "shop_metrics": "acct_shop_metrics",
    "appeals": "acct_appeals",
    "losses": "acct_auction_losses",
    "samples": "acct_auction_samples",
    "pool_changes": "acct_pool_changes",
}


@dataclass(frozen=True, slots=True)
class Tables:
    shops: Table
    products: Table
    campaigns: Table
    campaign_terms: Table
    events: Table
    transactions: Table
    entries: Table
    runs: Table
    day_figures: Table
    product_figures: Table
    evals: Table
    contracts: Table
    experiments: Table
    brand_kits: Table
    creatives: Table
    budget_draws: Table
    versions: Table
    holdout_shares: Table
    holdout_entries: Table
    merchants: Table
    keys: Table
    key_audit: Table
    product_signals: Table
    shop_metrics: Table
    appeals: Table
    losses: Table
    samples: Table
    pool_changes: Table


_CACHE: dict[tuple[str, str | None], Tables] = {}


def tables(engine: Engine) -> Tables:
    """The reflected tables of ``engine``'s database (which a migration has brought to its revision)."""
    key = (engine.dialect.name, current_revision(engine))
    got = _CACHE.get(key)
    if got is None:
        names = {**STORE_TABLES, **ACCOUNT_TABLES}
        md = MetaData()
        md.reflect(engine, only=list(names.values()))
        got = Tables(**{attr: md.tables[name] for attr, name in names.items()})
        _CACHE[key] = got
    return got
