"""What the migration files share besides their column kinds (:mod:`.columns`): their place in the chain and,
for a migration that only adds tables, its upgrade and downgrade.

A file's revision id is its name (``0009_budget_draws``) and it revises the file before it in number order,
so the chain is written once, by the file names (Alembic reads ``revision``/``down_revision`` from the
module, whatever computed them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import op

from sitewide.storage.migrations.columns import Col

Step = Callable[[], None]


def revisions(file: str) -> tuple[str, str | None]:
    """``(revision, down_revision)`` of the migration in ``file``: its name, and the name of the migration
    numbered before it (None for the first)."""
    me = Path(file)
    names = sorted(p.stem for p in me.parent.glob("[0-9][0-9][0-9][0-9]_*.py"))
    i = names.index(me.stem)
    return me.stem, names[i - 1] if i else None


def new_tables(**tables: Callable[[], list[Col]]) -> tuple[Step, Step]:
    """``upgrade, downgrade`` of a migration that adds tables: each keyword is a table, its value makes the
    columns (fresh ones per call: a column belongs to one table). Upgrade creates them in the order given,
    downgrade drops them in reverse."""

    def upgrade() -> None:
        for name, columns in tables.items():
            op.create_table(name, *columns())

    def downgrade() -> None:
        for name in reversed(tables):
            op.drop_table(name)

    return upgrade, downgrade
