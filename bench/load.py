"""Load and soak: real servers (uvicorn, 1 or 2 worker processes) on loopback, SQLite vs PostgreSQL.

Load: for each backend × workers, closed-loop clients (asyncio + httpx, ``--concurrency`` levels) post
``POST /serve`` (one search request, 10 slots) and ``POST /events`` (batches of 100 events) for a fixed time
each, after an untimed warm-up (1 s, or a third of a window); the max sustainable rate is the best throughput of
a level without errors, with its p50/p99 latency (client-side, request sent → answer read). Every cell has
a database of its own; all servers start side by side, then are measured one at a time while the others
wait idle (start-up is most of a ``--quick`` run, which also leaves out SQLite with 2 workers). Several workers run with ``shared_serving`` (budget leases).

Soak (``--soak SECONDS``; CI runs 60 s through ``tests/test_load_soak.py``, the documented full run is 600):
PostgreSQL with 2 workers at 70 % of the max events rate measured first (open loop, one batch at a time
per tick), half serve, half events; every event batch is retried until acknowledged. At the end
``soak_lost_events`` = distinct event ids acknowledged − ids stored (0 = none lost), the servers' peak RSS
growth (sum over worker processes, after warm-up) and p99 under soak vs idle p99 (the same requests at 2/s).

Lease draws: the first serve batch of a day draws a slice for every campaign in one store transaction;
``lease_draws_first_batch_ms`` times that against the same draws made one transaction per campaign.

Everything is loopback and bounded in time and count. ``python bench/load.py [--quick] [--soak S]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # developer tooling in scripts/
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scripts.pg import ENV_URL, ThrowawayCluster, drop_schema, unreachable_reason  # noqa: E402

from bench_catalogue import KEY, N_CAMPAIGNS, N_PRODUCTS, T0, catalogue  # noqa: E402
from sitewide.domain.budget_lease import Draw  # noqa: E402
from sitewide.storage.sql import SqlStore  # noqa: E402

T = TypeVar("T")
HDR = {"Authorization": f"Bearer {KEY}"}
QUERIES = ["product widget", "widget 12", "product 7", "widget", "product 150 widget"]


@dataclass(frozen=True)
class Cell:
    """One measured rate: requests/s, latency percentiles (ms), errors."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    n: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (MB), from /proc."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            for t in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (t / "children").read_text().split()]
    return total


def seed(url: str) -> None:
    """The bench catalogue (bench_catalogue's: 10 shops, 200 products, 50 campaigns) in the database, once: the rows
    only (each server builds its own engine over them; building one here too would cost a model load)."""
    shops, prods, camps = catalogue()
    store = SqlStore.from_url(url)
    store.upsert_shops(shops)
    store.upsert_products(prods)
    for c in camps:
        if store.get_campaign(c.id) is None:
            store.create_campaign(c)
    store.engine.dispose()


class Server:
    """``uvicorn --factory sitewide.service.app:create_app`` on a free loopback port, started at once and waited
    for by :meth:`ready` (so that several servers can start side by side). Its log (lifecycle lines only: no
    access log) goes to a file, so that readiness is every worker's "Application startup complete", not a
    fixed sleep after the first answer."""

    def __init__(self, url: str, workers: int, log_dir: Path | None = None) -> None:
        port = free_port()
        env = dict(os.environ)
        env.update(
            SITEWIDE_DATABASE_URL=url,
            SITEWIDE_OPERATOR_KEY=KEY,
            SITEWIDE_LOAD_CATALOGUE="0",
            SITEWIDE_SHARED_SERVING="1" if workers > 1 else "0",
            SITEWIDE_CAMPAIGN_POLL_MS="1000",
        )
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "sitewide.service.app:create_app"]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        cmd += ["--log-level", "info", "--no-access-log"]
        self.workers = workers
        self.log = Path(log_dir or tempfile.gettempdir()) / f"uvicorn-{port}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log
            )
        self.pid = self.proc.pid
        self.base = f"http://127.0.0.1:{port}"

    def started_workers(self) -> int:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace").count("Application startup complete")
        return 0

    def ready(self, timeout_s: float = 180.0) -> None:
        """Every worker has started (its log line), and the server answers ``/health``."""
        deadline = time.monotonic() + timeout_s
        while self.started_workers() < self.workers:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                raise RuntimeError(f"server did not start (exit {self.proc.poll()}):\n{tail}")
            time.sleep(0.1)
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("server started but does not answer /health")
            time.sleep(0.1)

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.log.unlink()


@contextlib.contextmanager
def servers(specs: list[tuple[str, int]]) -> Iterator[list[Server]]:
    """Servers for (url, workers) pairs, all started at once; yields them once every worker of every one has
    started and answers."""
    started: list[Server] = []
    try:
        for url, workers in specs:
            started.append(Server(url, workers))
        for s in started:
            s.ready()
        yield started
    finally:
        for s in started:  # all told at once, then waited for (each returns its leases on the way out)
            s.terminate()
        for s in started:
            s.stop()


@contextlib.contextmanager
def server(url: str, workers: int) -> Iterator[tuple[str, int]]:
    """One server; yields (base URL, pid)."""
    with servers([(url, workers)]) as (s,):
        yield s.base, s.pid


def stop_all(started: dict[tuple[str, int], Server]) -> None:
    """Stop every server (all told at once, then waited for: each returns its leases on the way out)."""
    for s in started.values():
        s.terminate()
    for s in started.values():
        s.stop()
    started.clear()


def cpu_s() -> float:
    """CPU seconds of this process and of its waited-for children (the servers, once stopped)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Traffic:
    """Request bodies: serve requests and event batches with fresh ids (``tag`` keeps runs apart)."""

    def __init__(self, tag: str) -> None:
        self.tag, self.n = tag, 0

    def serve(self) -> tuple[str, dict[str, object]]:
        self.n += 1
        q = QUERIES[self.n % len(QUERIES)]
        body = {
            "request_id": f"{self.tag}r{self.n}",
            "user_id": f"u{self.n % 500}",
            "query": q,
            "slots": 10,
            "ts_ms": T0 + 3_600_000,
        }
        return "/serve", body

    def events(self, size: int = 100) -> tuple[str, dict[str, object]]:
        """Impressions and clicks (one in ten) of promoted products: every batch stands alone."""
        self.n += 1
        out = []
        for i in range(size):
            k = self.n * size + i
            p = k % N_PRODUCTS
            out.append(
                {
                    "id": f"{self.tag}e{self.n}-{i}",
                    "kind": "click" if k % 10 == 0 else "impression",
                    "ts_ms": T0 + 3_600_000 + k % 1_000_000,
                    "user_id": f"u{k % 5000}",
                    "product_id": f"p{p}",
                    "campaign_id": f"c{p % N_CAMPAIGNS}",
                    "price_micros": 20_000 + k % 50_000,
                }
            )
        return "/events", {"events": out}


async def post(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> tuple[bool, float]:
    """One request: whether it was answered 200, and how long it took (s)."""
    t = time.perf_counter()
    try:
        ok = (await client.post(path, json=body)).status_code == 200
    except httpx.HTTPError:
        ok = False
    return ok, time.perf_counter() - t


async def closed_loop(
    base: str, make: Callable[[], tuple[str, dict[str, object]]], concurrency: int, seconds: float
) -> Cell:
    lat: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=base, headers=HDR, timeout=30) as client:
        stop = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal errors
            while True:  # at least one request each, however late the loop starts on a loaded machine
                ok, took = await post(client, *make())
                lat.append(took)
                errors += not ok
                if time.monotonic() >= stop:
                    return

        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.monotonic() - t0
    a = np.array(lat) * 1000
    return Cell(len(lat) / took, float(np.percentile(a, 50)), float(np.percentile(a, 99)), errors, len(lat))


def max_rate(
    base: str, make: Callable[[], tuple[str, dict[str, object]]], levels: list[int], s: float
) -> Cell:
    """The best throughput over the concurrency levels among those without errors, after an untimed warm-up
    (the first requests a worker answers pay for lazy start-up work: the first lease draws, the model's
    first call; a sustainable rate is what follows)."""
    asyncio.run(closed_loop(base, make, max(levels), min(1.0, s / 3)))
    cells = [asyncio.run(closed_loop(base, make, c, s)) for c in levels]
    ok = [c for c in cells if c.errors == 0] or cells
    return max(ok, key=lambda c: c.rps)


@contextlib.contextmanager
def postgres_server() -> Iterator[str | None]:
    """The PostgreSQL server to use: ``SITEWIDE_TEST_POSTGRES_URL`` when it answers, else a throwaway cluster
    from the OS packages, else None (SQLite only)."""
    url = os.environ.get(ENV_URL)
    if url and unreachable_reason(url) is None:
        yield url
        return
    try:
        cluster = ThrowawayCluster()
        u = cluster.__enter__()
    except Exception as exc:  # no server binaries: SQLite only
        print(f"postgres: not available ({exc})", file=sys.stderr)
        yield None
        return
    try:
        yield u
    finally:
        cluster.__exit__(None, None, None)


@contextlib.contextmanager
def in_background(cm: contextlib.AbstractContextManager[T]) -> Iterator[Callable[[], T]]:
    """Enter ``cm`` on a thread at once; yields a function that waits for and returns what it entered with
    (the PostgreSQL cluster starts while the SQLite cell is seeded and its server starts)."""
    with ThreadPoolExecutor(1) as pool:
        entered = pool.submit(cm.__enter__)
        try:
            yield entered.result
        finally:
            entered.result()
            cm.__exit__(None, None, None)


@contextlib.contextmanager
def database(name: str, tmp: Path, pg: str | None) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a schema of its own on the PostgreSQL server ``pg``."""
    if name == "sqlite":
        yield f"sqlite:///{tmp / f'load-{uuid.uuid4().hex[:6]}.sqlite'}"
        return
    assert pg is not None
    schema = f"load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg)
    with admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    sep = "&" if "?" in pg else "?"
    try:
        yield f"{pg}{sep}options=-csearch_path%3D{schema}"
    finally:
        drop_schema(pg, schema)


async def open_loop(
    base: str,
    plan: list[Callable[[], tuple[str, dict[str, object]]]],
    rate: float,
    seconds: float,
    on_ack: Callable[[dict[str, object]], None],
) -> tuple[list[float], int]:
    """``rate`` requests/s for ``seconds`` (round robin over ``plan``); event batches are retried until
    acknowledged (``on_ack``). Returns the latencies (ms) and the retries."""
    lat: list[float] = []
    retries = 0
    async with httpx.AsyncClient(base_url=base, headers=HDR, timeout=30) as client:

        async def one(make: Callable[[], tuple[str, dict[str, object]]]) -> None:
            nonlocal retries
            path, body = make()
            for attempt in range(50):
                done, took = await post(client, path, body)
                if done:
                    lat.append(took * 1000)
                    if path == "/events":
                        on_ack(body)
                    return
                retries += 1
                await asyncio.sleep(min(2.0, 0.05 * 2**attempt))

        tasks = []
        t0 = time.monotonic()
        i = 0
        while (now := time.monotonic()) < t0 + seconds:
            tasks.append(asyncio.create_task(one(plan[i % len(plan)])))
            i += 1
            await asyncio.sleep(max(0.0, t0 + i / rate - now))
        await asyncio.gather(*tasks)
    return lat, retries


def lease_draws(url: str, rounds: int = 3) -> tuple[float, float]:
    """The first serve batch of a day draws a slice for every campaign: the time (ms, median of ``rounds``
    fresh days) of one batched store call, and of the same draws one transaction per campaign (how the
    pacer drew before). In-process, on the cell's own database."""
    store = SqlStore.from_url(url)
    budget = 50_000_000
    ids = [f"c{i}" for i in range(N_CAMPAIGNS)]
    one, batch = [], []
    for r in range(rounds):
        t = time.perf_counter()
        for cid in ids:
            store.draw_budgets(10_000 + 2 * r, [Draw(cid, budget, budget // 10)])
        one.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.draw_budgets(10_001 + 2 * r, [Draw(cid, budget, budget // 10) for cid in ids])
        batch.append(time.perf_counter() - t)
    store.engine.dispose()
    return float(np.median(batch)) * 1000, float(np.median(one)) * 1000


def soak(url: str, workers: int, rate: float, seconds: float) -> dict[str, float]:
    traffic = Traffic(f"soak{uuid.uuid4().hex[:4]}")
    acked: set[str] = set()

    def ack(body: dict[str, object]) -> None:
        acked.update(str(e["id"]) for e in body["events"])  # type: ignore[union-attr]

    with server(url, workers) as (base, pid):
        idle, _ = asyncio.run(
            open_loop(base, [traffic.serve, traffic.events], 2.0, min(10.0, seconds / 6), ack)
        )
        rss0 = rss_mb(pid)
        peak = rss0
        samples: list[float] = []

        async def watch(stop: asyncio.Event) -> None:
            nonlocal peak
            while not stop.is_set():
                samples.append(rss_mb(pid))
                peak = max(peak, samples[-1])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

        async def run() -> tuple[list[float], int]:
            stop = asyncio.Event()
            w = asyncio.create_task(watch(stop))
            got = await open_loop(base, [traffic.serve, traffic.events], rate, seconds, ack)
            stop.set()
            await w
            return got

        lat, retries = asyncio.run(run())
    store = SqlStore.from_url(url)
    with store.engine.connect() as c:
        q = text("SELECT count(*) FROM events WHERE id LIKE :p")
        stored = int(c.execute(q, {"p": f"{traffic.tag}%"}).scalar() or 0)
    return {
        "lost": len(acked) - stored,
        "acked": len(acked),
        "stored": stored,
        "retries": retries,
        "rss_growth": (peak - rss0) / rss0 if rss0 else 0.0,
        "rss0_mb": rss0,
        "p99_ms": float(np.percentile(lat, 99)),
        "idle_p99_ms": float(np.percentile(idle, 99)),
        "n": len(lat),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--soak", type=float, default=0.0, help="seconds of soak after the load table (0: none)")
    ap.add_argument("--no-load", action="store_true", help="soak only (at --rate)")
    ap.add_argument("--rate", type=float, default=0.0, help="soak rate, requests/s (default: 70 %% of max)")
    args = ap.parse_args()
    seconds = 1.5 if args.quick else 8.0
    levels = [4] if args.quick else [2, 8, 32]
    rows: dict[tuple[str, str, int], Cell] = {}
    t_start = time.monotonic()
    phases: dict[str, float] = {}
    cpu0 = cpu_s()
    # every (backend, workers) cell on a database of its own; its server starts as soon as its database is
    # seeded (the PostgreSQL cluster comes up on a thread meanwhile, the SQLite server starts under it); the
    # cells are measured one at a time once every server's every worker is up, the others waiting idle
    cells = [(n, w) for n in ("sqlite", "postgres") for w in (1, 2)]
    if args.quick:  # under a minute: several workers on SQLite (one writer at a time) is not the shape
        cells = [c for c in cells if c != ("sqlite", 2)]
    if args.no_load:
        cells = [c for c in cells if c == ("postgres", 2)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        in_background(postgres_server()) as get_pg,
        contextlib.ExitStack() as stack,
    ):
        urls: dict[tuple[str, int], str] = {}
        started: dict[tuple[str, int], Server] = {}
        try:  # the servers stop before their databases go
            for name in ("sqlite", "postgres"):
                pg = get_pg() if name == "postgres" else None
                if name == "postgres" and pg is None:
                    continue
                phases.setdefault(f"{name}_ready", time.monotonic() - t_start)
                for cell in (c for c in cells if c[0] == name):
                    urls[cell] = stack.enter_context(database(name, Path(tmp), pg))
                    seed(urls[cell])
                    if not args.no_load:
                        started[cell] = Server(urls[cell], cell[1], Path(tmp))
            cells = [c for c in cells if c in urls]
            for srv in started.values():
                srv.ready()
            phases["servers_up"] = time.monotonic() - t_start
            print(f"servers up after {phases['servers_up']:.0f} s", file=sys.stderr)
            draws: dict[str, tuple[float, float]] = {}
            for (name, _), url in urls.items():  # once per backend, on days no traffic uses, the servers idle
                if name not in draws:
                    draws[name] = lease_draws(url)
            for cell in cells:
                if cell in started:
                    tr = Traffic(f"{cell[0]}{cell[1]}")
                    rows[(cell[0], "serve", cell[1])] = max_rate(started[cell].base, tr.serve, levels, seconds)
                    rows[(cell[0], "events", cell[1])] = max_rate(started[cell].base, tr.events, levels, seconds)
            phases["measured"] = time.monotonic() - t_start
        finally:
            stop_all(started)
            phases["servers_stopped"] = time.monotonic() - t_start
        if ("postgres", 2) in urls and args.soak > 0:
            ev = rows.get(("postgres", "events", 2))
            sv = rows.get(("postgres", "serve", 2))
            rate = args.rate or (0.7 * 2 / (1 / ev.rps + 1 / sv.rps) if ev and sv else 20.0)
            res = soak(urls[("postgres", 2)], 2, rate, args.soak)
            print(f"soak: {res} rate={rate:.1f}/s for {args.soak:.0f}s", file=sys.stderr)
    phases["torn_down"] = time.monotonic() - t_start
    print(
        "phases (s since start): " + " ".join(f"{k}={v:.1f}" for k, v in phases.items())
        + f" ; cpu_s={cpu_s() - cpu0:.1f} (this process and its servers)",
        file=sys.stderr,
    )
    with contextlib.suppress(OSError):
        print(f"load: {os.getloadavg()}", file=sys.stderr)
    for (name, kind, w), c in sorted(rows.items()):
        unit = "req_per_s" if kind == "serve" else "batches_per_s"
        base_c = rows.get(("sqlite", kind, 1))
        extra = (
            f" baseline={base_c.rps:.1f} ratio={c.rps / base_c.rps:.2f}" if base_c and base_c is not c else ""
        )
        print(
            f"metric: load_{kind}_{unit}_{name}_{w}w={c.rps:.1f}{extra} p50_ms={c.p50_ms:.1f} "
            f"p99_ms={c.p99_ms:.1f} errors={c.errors}"
        )
    for name, (batch_ms, one_ms) in sorted(draws.items()):
        print(
            f"metric: lease_draws_first_batch_ms_{name}={batch_ms:.1f} baseline={one_ms:.1f} "
            f"ratio={batch_ms / one_ms:.2f} campaigns={N_CAMPAIGNS} (baseline: one transaction per campaign)"
        )
    if args.soak > 0 and "res" in locals():
        print(
            f"metric: soak_lost_events={res['lost']} target=0 acked={res['acked']} retries={res['retries']}"
        )
        print(f"metric: soak_rss_growth={res['rss_growth']:.3f} target=0.10 start_mb={res['rss0_mb']:.0f}")
        r = res["p99_ms"] / res["idle_p99_ms"]
        print(
            f"metric: soak_p99_ms={res['p99_ms']:.1f} baseline={res['idle_p99_ms']:.1f} ratio={r:.2f} target=2"
        )
    print(f"metric: load_bench_s={time.monotonic() - t_start:.0f} cpu_s={cpu_s() - cpu0:.0f}")
    print(f"metric: peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
