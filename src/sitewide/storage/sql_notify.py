"""PostgreSQL LISTEN/NOTIFY for the shared serving state: a writer's transaction that bumps a version counter
also sends ``NOTIFY`` (delivered when it commits), and every serving process listens on a connection of its
own, so a campaign change reaches the other processes at their next batch instead of their next poll. The
poll stays: it is the fallback while the listening connection is down (a database restart) and the only
path on SQLite."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from sqlalchemy.engine import Connection, Engine


def channel(name: str) -> str:
    """The notification channel of version counter ``name``."""
    return f"sitewide_{name}"


def notify(conn: Connection, name: str) -> None:
    """Inside the writer's transaction: PostgreSQL delivers it on commit, never for a rollback."""
    conn.exec_driver_sql(f"NOTIFY {channel(name)}")


class PgListener:
    """A daemon thread holding one connection (outside the pool) that LISTENs on ``channel(name)``;
    :meth:`fired` says whether a notification came since the last call. After a lost connection it
    reconnects every second and reports itself fired once it is back (changes may have been missed)."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._fired = threading.Event()
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name=f"listen-{name}", daemon=True)
        self._thread.start()

    def fired(self) -> bool:
        if not self._fired.is_set():
            return False
        self._fired.clear()
        return True

    def wait_listening(self, timeout_s: float) -> bool:
        """Whether the LISTEN is in place (within ``timeout_s``)."""
        return self._listening.wait(timeout_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _connect(self) -> Any:
        raw = self.engine.raw_connection()
        conn = raw.driver_connection
        assert conn is not None
        raw.detach()  # this connection leaves the pool: it only listens
        conn.rollback()
        conn.autocommit = True
        conn.execute(f"LISTEN {channel(self.name)}")
        return conn

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except Exception:  # the database is away: the poll covers, try again in a second
                self._stop.wait(1.0)
                continue
            self._listening.set()
            self._fired.set()  # anything may have changed while no one listened
            try:
                while not self._stop.is_set():
                    for _ in conn.notifies(timeout=0.5):
                        self._fired.set()
            except Exception:  # connection lost: reconnect
                self._listening.clear()
            finally:
                with contextlib.suppress(Exception):
                    conn.close()
