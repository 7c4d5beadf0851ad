"""Auction-loss counts are buffered per process and written in one statement per flush: the stored counts and
samples equal the unbuffered ones, a clean shutdown loses nothing, flushing is idempotent, a failed write keeps
the counts, and a quiet process still writes within the flush interval."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select

from sitewide.domain.accounts import LossSample
from sitewide.storage.accounts import AccountStore

REASONS = ("outbid", "below_reserve", "budget", "ineligible")


class Clock:
    def now_ms(self) -> int:
        return 1_767_225_600_000


def _store(path: Path, flush_s: float) -> AccountStore:
    return AccountStore(create_engine(f"sqlite:///{path}"), Clock(), loss_flush_s=flush_s)


def _calls(n: int) -> list[tuple[str, dict[tuple[str, str, str], int], list[LossSample]]]:
    """``n`` add_losses calls over a few days, campaigns, products and reasons (keys repeat across calls)."""
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        day = f"2026-01-0{1 + int(rng.integers(3))}"
        counts: dict[tuple[str, str, str], int] = {}
        for _ in range(int(rng.integers(1, 6))):
            k = (f"c{rng.integers(4)}", f"p{rng.integers(12)}", REASONS[int(rng.integers(4))])
            counts[k] = counts.get(k, 0) + int(rng.integers(1, 4))
        samples = [LossSample(i, f"r{i}", c, p, r, 0) for (c, p, r) in counts] if i % 5 == 0 else []
        out.append((day, counts, samples))
    return out


def _rows(store: AccountStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(store.t.losses)).scalar_one())


def _all(store: AccountStore) -> tuple[list[tuple[str, str, str, int]], list[LossSample]]:
    counts = [row for c in range(4) for row in store.losses(f"c{c}")]
    samples = [s for c in range(4) for s in store.loss_samples(f"c{c}", limit=1_000)]
    return counts, samples


def test_buffered_counts_equal_the_unbuffered_ones(tmp_path: Path) -> None:
    plain, buffered = _store(tmp_path / "a.sqlite", 0.0), _store(tmp_path / "b.sqlite", 3_600.0)
    for day, counts, samples in _calls(300):
        plain.add_losses(day, counts, samples)
        buffered.add_losses(day, counts, samples)
    assert _rows(plain) > 0 and _rows(buffered) == 0  # buffered: nothing written yet
    got, want = _all(buffered), _all(plain)  # a read flushes first
    assert got == want and len(want[0]) > 20 and len(want[1]) > 20
    assert _rows(buffered) == _rows(plain)


def test_a_clean_shutdown_loses_nothing_and_flushing_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    ref = _store(tmp_path / "ref.sqlite", 0.0)
    store = _store(path, 3_600.0)
    for day, counts, samples in _calls(120):
        store.add_losses(day, counts, samples)
        ref.add_losses(day, counts, samples)
    store.close()
    store.close()  # twice: nothing added twice
    store.flush_losses()
    again = _store(path, 3_600.0)  # another process after the restart
    assert _all(again) == _all(ref)


def test_a_failed_write_keeps_the_counts_for_the_next_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path / "a.sqlite", 3_600.0)
    store.add_losses("2026-01-01", {("c0", "p1", "outbid"): 2}, [])
    real = store._write_losses
    monkeypatch.setattr(store, "_write_losses", lambda *a: (_ for _ in ()).throw(RuntimeError("db down")))
    with pytest.raises(RuntimeError):
        store.flush_losses()
    store.add_losses("2026-01-01", {("c0", "p1", "outbid"): 3}, [])  # arrives while the database is down
    monkeypatch.setattr(store, "_write_losses", real)
    assert store.losses("c0") == [("2026-01-01", "p1", "outbid", 5)]


def test_a_quiet_process_writes_within_the_flush_interval(tmp_path: Path) -> None:
    store = _store(tmp_path / "a.sqlite", 0.05)
    store.add_losses("2026-01-01", {("c0", "p1", "outbid"): 1}, [])
    store.add_losses("2026-01-01", {("c0", "p1", "outbid"): 1}, [])
    deadline = time.monotonic() + 5
    while _rows(store) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _rows(store) == 1  # written by the background flusher, no read or later request needed
    store.close()
    assert store.losses("c0") == [("2026-01-01", "p1", "outbid", 2)]


def test_a_full_buffer_is_written_by_the_flusher_not_by_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serving event loop calls add_losses: a full buffer must not make it wait on a database write."""
    import threading

    store = _store(tmp_path / "a.sqlite", 3_600.0)  # the interval alone would never flush within the test
    monkeypatch.setattr(AccountStore, "MAX_BUFFERED", 10)
    writers: list[str] = []
    real = store._write_losses

    def write(*a: object) -> None:
        writers.append(threading.current_thread().name)
        real(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_write_losses", write)
    for i in range(12):  # 12 keys: past MAX_BUFFERED, short of the 4x that makes the caller write
        store.add_losses("2026-01-01", {("c0", f"p{i}", "outbid"): 1}, [])
    assert threading.current_thread().name not in writers
    deadline = time.monotonic() + 5
    while _rows(store) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _rows(store) >= 10 and writers and set(writers) == {"loss-flusher"}
    with store._loss_lock:  # a flusher 4x behind (40 keys waiting) is the one case the caller writes itself
        store._counts.update({("2026-01-02", "c1", f"p{j}", "outbid"): 1 for j in range(40)})
    store.add_losses("2026-01-02", {("c1", "q", "outbid"): 1}, [])
    assert threading.current_thread().name in writers
    store.close()
