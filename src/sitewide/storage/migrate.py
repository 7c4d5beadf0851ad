"""Schema migrations with Alembic, run from code so that they work from an installed package.

``upgrade(engine)`` brings any database to the newest schema. A database created before migrations existed
(tables present, no ``alembic_version``) is stamped at the baseline first. The migrations are the one
definition of the schema: the adapters read their tables from the migrated database (``storage.schema``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

HEAD = "0013_holdout_ts_index"
BASELINE = "0001_baseline"
SCRIPTS = Path(__file__).with_name("migrations")


def _config() -> object:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and current_revision(engine) == HEAD:
        return
    from alembic import command

    cfg = _config()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # one migrator at a time
            conn.execute(text("SELECT pg_advisory_xact_lock(727411)"))
        cfg.attributes["connection"] = conn  # type: ignore[attr-defined]
        insp = inspect(conn)
        if not insp.has_table("alembic_version") and insp.has_table("events"):
            command.stamp(cfg, BASELINE)  # type: ignore[arg-type]
        command.upgrade(cfg, revision)  # type: ignore[arg-type]


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn  # type: ignore[attr-defined]
        command.downgrade(cfg, revision)  # type: ignore[arg-type]
