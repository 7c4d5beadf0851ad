"""PostgreSQL helpers for tests and benchmarks (developer tooling, not part of the package): an isolated schema per user, and a throwaway cluster.

``isolated_engine(url, schema)`` gives an engine whose ``search_path`` is a fresh schema (dropped by
``drop_schema``), so test runs never see each other's tables. ``ThrowawayCluster`` runs ``initdb`` +
``pg_ctl`` from the OS packages in a temporary directory on a unix socket (as the ``postgres`` user when
run as root) — for a benchmark when no server URL is given.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

ENV_URL = "SITEWIDE_TEST_POSTGRES_URL"
# diagnosis only, never set in CI: more server options for a throwaway cluster (e.g. "-c log_checkpoints=on -c
# log_autovacuum_min_duration=0 -c log_min_duration_statement=50"), and a file its server log is copied to when
# it stops (the cluster's directory, log included, is removed then)
ENV_OPTIONS = "SITEWIDE_THROWAWAY_PG_OPTIONS"
ENV_LOG = "SITEWIDE_THROWAWAY_PG_LOG"


def unreachable_reason(url: str | None) -> str | None:
    """None when ``url`` answers; otherwise why not (for a pytest skip message)."""
    if not url:
        return f"{ENV_URL} is not set (.ci/run starts a PostgreSQL server and sets it)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'sitewide[postgres]')"
    try:
        eng = create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
    except Exception as exc:  # any connection failure is a reason to skip, with its text
        return f"PostgreSQL at {url} is unreachable: {exc.__class__.__name__}: {str(exc)[:200]}"
    return None


def isolated_engine(url: str, schema: str) -> Engine:
    admin = create_engine(url)
    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return create_engine(url, connect_args={"options": f"-csearch_path={schema}"})


def drop_schema(url: str, schema: str) -> None:
    admin = create_engine(url)
    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@contextmanager
def throwaway_schema(url: str) -> Iterator[Engine]:
    """An engine on a fresh, uniquely named schema of ``url``; disposed and the schema dropped when the block ends."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    eng = isolated_engine(url, schema)
    try:
        yield eng
    finally:
        eng.dispose()
        drop_schema(url, schema)


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    w = shutil.which("initdb")
    return Path(w).parent if w else None


class ThrowawayCluster:
    """``with ThrowawayCluster() as url:`` — a private PostgreSQL server for the block's duration."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sitewide-pg-"))
        self.bin = _pg_bin()

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def __enter__(self) -> str:
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        data = self.dir / "data"
        # --no-sync: a throwaway cluster need not flush its fresh files to disk (seconds on a busy disk)
        self._run(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._ctl("start")
        return f"postgresql+psycopg://postgres@/postgres?host={self.dir}"

    def _ctl(self, action: str, *extra: str) -> None:
        assert self.bin is not None
        opts = f"-c listen_addresses='' -k {self.dir} -c fsync=off -c synchronous_commit=off"
        if more := os.environ.get(ENV_OPTIONS):
            opts += " " + more
        data, log = str(self.dir / "data"), str(self.dir / "log")
        self._run(str(self.bin / "pg_ctl"), "-D", data, "-o", opts, "-l", log, *extra, "-w", action)

    def restart(self) -> None:
        """Stop the server (fast: open connections are cut) and start it again (a fault test's restart)."""
        self._ctl("restart", "-m", "fast")

    def __exit__(self, *exc: object) -> None:
        if self.bin is None:
            return
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            if (keep := os.environ.get(ENV_LOG)) and (self.dir / "log").exists():
                shutil.copyfile(self.dir / "log", keep)
            shutil.rmtree(self.dir, ignore_errors=True)
