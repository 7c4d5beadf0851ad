"""The serving path over HTTP on loopback: ``POST /serve``, the auction-only ``POST /auctions`` and the
retail-media compatible ``POST /compat/v2/auctions``, through ``sitewide serve`` (uvicorn; uvloop and httptools
when installed) in a separate process.

Client: raw HTTP/1.1 over keep-alive connections on loopback (one per concurrent caller), an asyncio protocol
(on uvloop's loop when installed) that writes each request's pre-formatted bytes and parses each response's status
line and ``Content-Length``, with the random draws made in blocks: it shares the server's 2 cores, so every
0.1 ms of its CPU per request is ~5 % of the machine's rate at concurrency 16 (the stream-based client it
replaced spent 0.16-0.26 ms a request, this one 0.05-0.09). Timed: from writing a request to reading the whole
response body, per request.

Figures
- latency at concurrency 1 (``http_serve_p50_ms``/``p99``, ``http_auction_p50_ms``/``p99``,
  ``http_compat_auction_p50_ms``/``p99``); baseline = the same call in-process (``Engine.serve`` /
  ``Engine.auctions`` over the same data dir, measured in this run), so the ratio is what HTTP adds;
- the server process's CPU ms per request at concurrency 1 (``http_serve_server_cpu_ms``,
  ``http_auction_server_cpu_ms``, from ``/proc``; baseline = the in-process call's CPU ms): on a shared, loaded
  machine the wall latency is mostly waiting for a core, the CPU time is what the server spends;
- ``POST /serve`` requests/s and p99 at concurrency 1, 4, 16 and 64 (a fixed time each), and the throughput at
  64 as a share of the peak (no collapse under overload);
- per level, each worker's CPU seconds (``http_c16_worker_cpu_balance`` = min / max at 16: do the workers share
  the load?) and the CPU ms per request of the server and of this client (``http_c16_server_cpu_ms``,
  ``http_c16_client_cpu_ms``): with both on the same 2 cores, 2,000 / (server + client) is the most requests/s
  the machine can give, whatever else runs.

Workload: the catalogue in the data dir (the packaged 2,000 real products unless a generated one is passed in),
a quarter of the products in 40 campaigns with budgets that do not run out during the run; search queries are
two or three words of product titles drawn Zipf-like from a pool (repeated queries are the norm in search and
hit the engine's candidate cache), users from a pool of 5,000; an auction has 40 candidate ids and 3 slots.

``run(quick)`` is what ``bench/serving.py`` calls; ``python bench/serving_http.py [--quick]`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple, cast

import numpy as np

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # as `sitewide serve` sets them
    os.environ.setdefault(_var, "1")

from sitewide.domain.money import Micros  # noqa: E402
from sitewide.domain.types import Campaign, Product  # noqa: E402

KEY = "sw_0123456789abcdef_bench-http-operator-key"
CONCURRENCY = (1, 4, 16, 64)
WORKERS = 2  # `sitewide serve --workers 2`: one worker per core of the 2-core machine the targets are set on


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, as an asyncio protocol (no stream reader/writer and their futures per
    request): POST a JSON body, read the status line, the headers and ``Content-Length`` bytes of body."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.transport: asyncio.Transport
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.heads: dict[str, bytes] = {}  # path -> the request's fixed head, up to the Content-Length value

    async def open(self) -> None:
        await asyncio.get_running_loop().create_connection(lambda: self, self.host, self.port)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self.waiter.set_exception(RuntimeError(f"no content-length in {head[:300]!r}"))
            self.waiter = None
            return
        stop = head.find(b"\r\n", at + 2)
        n = int(head[at + 17 : stop if stop > 0 else len(head)])
        if len(self.buf) < end + 4 + n:
            return  # the rest of the body is still on its way
        status = int(head[9:12])  # "http/1.1 200 ok"
        body = bytes(self.buf[end + 4 : end + 4 + n])
        del self.buf[: end + 4 + n]
        waiter, self.waiter = self.waiter, None
        waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection closed: {exc}"))

    def post(self, path: str, body: bytes) -> asyncio.Future[tuple[int, bytes]]:
        """Send the request; the future gives ``(status, body)`` once the whole response is read."""
        head = self.heads.get(path)
        if head is None:
            head = self.heads[path] = (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {KEY}\r\n"
                "Content-Type: application/json\r\nContent-Length: "
            ).encode()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(b"%s%d\r\n\r\n%s" % (head, len(body), body))
        return self.waiter

    def close(self) -> None:
        self.transport.close()


def _seed(data_dir: Path, products: Sequence[Product] | None) -> tuple[list[Product], list[Campaign]]:
    """The store in ``data_dir``: the catalogue and 40 campaigns over a quarter of its products."""
    from sitewide.catalogue import packaged_catalogue
    from sitewide.domain.types import Shop
    from sitewide.storage.sql import SqlStore

    store = SqlStore.from_url(f"sqlite:///{data_dir / 'sitewide.sqlite'}")
    if products is None:
        shops, prods = packaged_catalogue()
    else:
        prods = list(products)
        shops = [Shop(s, f"m-{s}", s) for s in sorted({p.shop_id for p in prods})]
    store.upsert_shops(shops)
    store.upsert_products(prods)
    shop_merchant = {s.id: s.merchant_id for s in shops}
    rng = np.random.default_rng(7)
    chosen = rng.choice(len(prods), size=len(prods) // 4, replace=False)
    by_merchant: dict[str, list[str]] = {}
    for i in chosen.tolist():
        by_merchant.setdefault(shop_merchant[prods[i].shop_id], []).append(prods[i].id)
    camps = []
    for j, (m, ids) in enumerate(sorted(by_merchant.items(), key=lambda kv: -len(kv[1]))[:40]):
        roi = Decimal(str(round(float(rng.uniform(1.5, 6.0)), 2)))
        c = Campaign(f"bench-c{j}", m, f"bench {j}", tuple(ids), roi, Micros(10**12), created_ms=0)
        store.create_campaign(c)
        camps.append(c)
    return prods, camps


class Workload:
    """The requests' bodies. ``serve()`` is cheap (the load client shares the server's 2 cores): the random
    draws are made in blocks and each body is formatted from pre-encoded parts."""

    BLOCK = 4096

    def __init__(self, products: Sequence[Product], campaigns: Sequence[Campaign], seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        words = [p.title.split() for p in products]
        self.queries = [" ".join(w[: 2 + (i % 2)]) for i, w in enumerate(words) if w][:2_000]
        self.query_json = [json.dumps(q).encode() for q in self.queries]
        zipf = 1.0 / np.arange(1, len(self.queries) + 1) ** 1.0
        self.p_query = zipf / zipf.sum()
        self.ids = [p.id for p in products]
        self.promoted = sorted({pid for c in campaigns for pid in c.product_ids})
        self.n = 0
        self._drawn: list[tuple[int, int]] = []

    def _user(self) -> str:
        return f"u{int(self.rng.integers(5_000))}"

    def serve(self) -> bytes:
        if not self._drawn:  # a block of (query, user) draws at once
            q = self.rng.choice(len(self.queries), self.BLOCK, p=self.p_query)
            u = self.rng.integers(5_000, size=self.BLOCK)
            self._drawn = list(zip(q.tolist(), u.tolist(), strict=True))[::-1]
        qi, user = self._drawn.pop()
        self.n += 1
        return b'{"request_id": "r%d", "user_id": "u%d", "query": %s, "slots": 10}' % (
            self.n,
            user,
            self.query_json[qi],
        )

    def candidates(self) -> list[str]:
        a = self.rng.choice(len(self.promoted), 20, replace=False)
        b = self.rng.choice(len(self.ids), 20, replace=False)
        return [self.promoted[i] for i in a.tolist()] + [self.ids[i] for i in b.tolist()]

    def auction(self) -> bytes:
        body = {"auctions": [{"slots": 3, "user_id": self._user(), "product_ids": self.candidates()}]}
        return json.dumps(body).encode()

    def compat(self) -> bytes:
        a = {
            "type": "listings",
            "slots": 3,
            "opaqueUserId": self._user(),
            "products": {"ids": self.candidates()},
        }
        return json.dumps({"auctions": [a]}).encode()


async def _latency(port: int, path: str, make: Callable[[], bytes], n: int, warm: int) -> list[float]:
    c = Conn("127.0.0.1", port)
    await c.open()
    out = []
    try:
        for i in range(warm + n):
            body = make()
            t = time.perf_counter()
            status, data = await c.post(path, body)
            dt = (time.perf_counter() - t) * 1000
            if status != 200:
                raise RuntimeError(f"{path}: HTTP {status}: {data[:300]!r}")
            if i >= warm:
                out.append(dt)
    finally:
        c.close()
    return out


class Sweep(NamedTuple):
    """One concurrency level of the load sweep."""

    rps: float
    p99_ms: float
    requests: int
    worker_cpu_s: list[float]  # each server worker's CPU seconds during the level
    client_cpu_s: float  # this process's (the load generator's) CPU seconds during the level


async def _load(
    port: int, path: str, make: Callable[[], bytes], conc: int, seconds: float, workers: Sequence[int]
) -> Sweep:
    """``conc`` callers each sending back-to-back for ``seconds``: requests/s, p99 ms, and the CPU the server's
    worker processes (``workers``, pids) and this client spent meanwhile."""
    conns = [Conn("127.0.0.1", port) for _ in range(conc)]
    await asyncio.gather(*(c.open() for c in conns))
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def caller(c: Conn) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            body = make()
            t = time.perf_counter()
            status, _ = await c.post(path, body)
            lat.append((time.perf_counter() - t) * 1000)
            errors += status != 200

    w0, c0 = [_cpu_s(w) for w in workers], time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in conns))
    wall = time.perf_counter() - t0
    w1, c1 = [_cpu_s(w) for w in workers], time.process_time()
    for c in conns:
        c.close()
    if errors:
        raise RuntimeError(f"{path}: {errors} non-200 answers at concurrency {conc}")
    cpu = [b - a for a, b in zip(w0, w1, strict=True)]
    return Sweep(len(lat) / wall, float(np.percentile(lat, 99)), len(lat), cpu, c1 - c0)


def client_loop() -> asyncio.AbstractEventLoop:
    """The load client's event loop: uvloop's when installed (less CPU per request on the cores the server
    uses), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _launch(data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, SITEWIDE_OPERATOR_KEY=KEY)
    cmd = [sys.executable, "-c", "from sitewide.cli import main; main()", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir), "--workers", str(workers)]
    with open(data_dir / "server.log", "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _wait_ready(
    proc: subprocess.Popen[bytes], port: int, log: Path, workers: int, timeout_s: float = 300
) -> None:
    """Until ``/health`` answers and, with several workers, the server says that every worker serves (a worker
    still building its engine would otherwise hold the connections the kernel gave its socket)."""
    from sitewide.service.workers import READY_LINE

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                healthy = b"200 OK" in s.recv(1024)
        except OSError:
            healthy = False
        if healthy and (workers == 1 or READY_LINE.format(n=workers) in log.read_text(errors="replace")):
            return
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not start within {timeout_s:.0f} s: {log.read_text(errors='replace')[-2000:]}")


def _in_process(data_dir: Path, wl: Workload, n: int) -> tuple[float, float, float, float]:
    """p50 wall ms of ``Engine.serve`` and of ``Engine.auctions`` over the same data dir, in this process, and
    their mean CPU ms."""
    from sitewide.domain.types import RequestKind, ServeRequest
    from sitewide.engine.auctions import AuctionRequest
    from sitewide.settings import Settings
    from sitewide.wiring import build_engine

    if "torch" in sys.modules:  # as `sitewide serve` runs it: one intra-op thread
        sys.modules["torch"].set_num_threads(1)
    engine = build_engine(Settings(data_dir=data_dir, load_catalogue=False))
    now = engine.clock.now_ms()
    serve_t, auc_t, serve_c, auc_c = [], [], [], []
    for i in range(n + 50):
        b = json.loads(wl.serve())
        req = ServeRequest(b["request_id"], b["user_id"], RequestKind.SEARCH, b["query"], 10, now)
        t, c = time.perf_counter(), time.thread_time()
        engine.serve(req)
        if i >= 50:
            serve_t.append((time.perf_counter() - t) * 1000)
            serve_c.append((time.thread_time() - c) * 1000)
        a = AuctionRequest(f"a{i}", 3, f"u{i}", tuple(wl.candidates()), ts_ms=now)
        t, c = time.perf_counter(), time.thread_time()
        engine.auctions([a])
        if i >= 50:
            auc_t.append((time.perf_counter() - t) * 1000)
            auc_c.append((time.thread_time() - c) * 1000)
    engine.close()
    return (
        float(np.median(serve_t)),
        float(np.median(auc_t)),
        float(np.mean(serve_c)),
        float(np.mean(auc_c)),
    )


def _metric(name: str, value: float, baseline: float | None = None, target: str | None = None) -> None:
    line = f"metric: {name}={value:.3f}"
    if baseline is not None:
        line += f" baseline={baseline:.3f} ratio={value / baseline:.2f}" if baseline > 0 else ""
    if target is not None:
        line += f" target={target}"
    print(line, flush=True)


def generated(n: int) -> list[Product] | None:
    """``n`` products from the big-catalogue generator (``sitewide.simulator.big_catalogue``) when it exists."""
    try:
        from sitewide.simulator.big_catalogue import big_catalogue  # type: ignore[import-not-found]
    except ImportError:
        return None
    from sitewide.catalogue import packaged_catalogue

    _, prods = big_catalogue(packaged_catalogue()[1], n, 0)
    return list(prods)


def _worker_pids(pid: int) -> list[int]:
    """The processes that serve: ``pid`` itself (one worker) or its worker children (``--workers N``: the
    supervisor's ``multiprocessing`` children, not its resource tracker)."""
    kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    workers = [c for c in kids if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
    return workers or [pid]


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and its child processes (``--workers N``: the workers are its children)."""
    total = _cpu_s(pid)
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            total += _cpu_s(int(child))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


class Started(NamedTuple):
    """A seeded data dir and a ``sitewide serve`` on it, ready to be timed (:func:`start`, :func:`measure`)."""

    tmp: tempfile.TemporaryDirectory[str]
    data_dir: Path
    products: list[Product]
    campaigns: list[Campaign]
    port: int
    proc: subprocess.Popen[bytes]
    workers: int
    t0: float  # perf_counter when start() began


def start(products: Sequence[Product] | None = None, workers: int = WORKERS) -> Started:
    """Seed a data dir and launch ``sitewide serve`` on loopback without waiting for it (nothing is timed yet:
    ``bench/serving.py`` starts it before building its 1M engine, so the server's start-up overlaps that build;
    :func:`measure` waits until it answers)."""
    t = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix="sitewide-http-")
    data_dir = Path(tmp.name)
    prods, camps = _seed(data_dir, products)
    port = _free_port()
    return Started(tmp, data_dir, prods, camps, port, _launch(data_dir, port, workers), workers, t)


def measure(s: Started, quick: bool) -> None:
    """Time the started server, stop it, time the in-process baseline, print ``metric:`` lines."""
    n, warm, secs = (200, 50, 2.0) if quick else (2_000, 300, 8.0)
    # quick: 1 s at concurrency 1 and 4 (no targets), 2 s at 16 and 64 (the targets). With 1 s at every level, 2
    # of 3 quick runs had c16 at 785-849 req/s (the server's CPU per request was 2.1-2.2 ms in those runs, 1.47 in
    # the third, which gave 1,205): not attributable to the shorter window, but not shown stable either
    level_s = {c: (1.0 if quick and c < 16 else secs) for c in CONCURRENCY}
    print(
        f"# load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1/5-min load average, {os.cpu_count()} cores)"
    )
    try:
        import httptools  # noqa: F401
        import uvloop  # noqa: F401

        stack = "uvloop+httptools"
    except ImportError:
        stack = "asyncio+h11 (install sitewide[fast] for uvloop+httptools)"
    prods, camps, port, proc = s.products, s.campaigns, s.port, s.proc
    # each worker loads and indexes the whole catalogue: a generated 1M one takes minutes on a loaded machine
    _wait_ready(proc, port, s.data_dir / "server.log", s.workers, timeout_s=300 + len(prods) / 1_000)
    pids = _worker_pids(proc.pid)
    wl = Workload(prods, camps)
    print(
        f"# {len(prods):,} products, {len(camps)} campaigns, `sitewide serve --workers {s.workers}`, server stack: "
        f"{stack}; ready {time.perf_counter() - s.t0:.1f} s after its data dir began to be seeded"
    )
    loop = client_loop()
    print(
        "# client: keep-alive HTTP/1.1, an asyncio protocol on "
        f"{'uvloop' if 'uvloop' in type(loop).__module__ else 'asyncio'}'s loop, pre-formatted bodies"
    )
    took: dict[str, float] = {}  # wall seconds of the HTTP part's steps
    t = time.perf_counter()
    try:
        server_cpu: dict[str, float] = {}  # the server's CPU ms per request at concurrency 1 (load-robust)
        c0 = _tree_cpu_s(proc.pid)
        serve = loop.run_until_complete(_latency(port, "/serve", wl.serve, n, warm))
        c1 = _tree_cpu_s(proc.pid)
        auc = loop.run_until_complete(_latency(port, "/auctions", wl.auction, n, warm))
        server_cpu["serve"] = (c1 - c0) * 1e3 / (n + warm)
        server_cpu["auction"] = (_tree_cpu_s(proc.pid) - c1) * 1e3 / (n + warm)
        compat: list[float] = []
        try:
            compat = loop.run_until_complete(_latency(port, "/compat/v2/auctions", wl.compat, n, warm))
        except RuntimeError as e:
            print(f"# compat auctions not timed: {e}")
        took["latency c1"], t = time.perf_counter() - t, time.perf_counter()
        sweep = {
            c: loop.run_until_complete(_load(port, "/serve", wl.serve, c, level_s[c], pids)) for c in CONCURRENCY
        }
        took["sweep"], t = time.perf_counter() - t, time.perf_counter()
        loop.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    took["server stop"], t = time.perf_counter() - t, time.perf_counter()
    try:
        base_serve, base_auc, base_serve_cpu, base_auc_cpu = _in_process(s.data_dir, wl, n // 2)
    finally:
        s.tmp.cleanup()
    took["in-process baseline"] = time.perf_counter() - t
    print("# http part steps (wall s): " + ", ".join(f"{k} {v:.1f}" for k, v in took.items()))
    p = np.percentile
    _metric("http_serve_p50_ms", float(p(serve, 50)), base_serve, "5")
    _metric("http_serve_p99_ms", float(p(serve, 99)), None, "20")
    _metric("http_auction_p50_ms", float(p(auc, 50)), base_auc, "4")
    _metric("http_auction_p99_ms", float(p(auc, 99)))
    _metric("http_serve_server_cpu_ms", server_cpu["serve"], base_serve_cpu)
    _metric("http_auction_server_cpu_ms", server_cpu["auction"], base_auc_cpu)
    if compat:
        _metric("http_compat_auction_p50_ms", float(p(compat, 50)), float(p(auc, 50)))
        _metric("http_compat_auction_p99_ms", float(p(compat, 99)), float(p(auc, 99)))
    peak = max(sw.rps for sw in sweep.values())
    for c, sw in sweep.items():
        _metric(f"http_rps_c{c}", sw.rps, None, "1000" if c == 16 else None)
        _metric(f"http_p99_ms_c{c}", sw.p99_ms)
        srv, cli = sum(sw.worker_cpu_s) * 1e3 / sw.requests, sw.client_cpu_s * 1e3 / sw.requests
        print(
            f"# c{c}: {sw.requests} requests; worker CPU s {' '.join(f'{x:.2f}' for x in sw.worker_cpu_s)}; "
            f"CPU ms per request: server {srv:.3f}, client {cli:.3f} (2 cores: at most "
            f"{2e3 / (srv + cli):.0f} req/s with both on this machine)"
        )
    _metric("http_rps_c64_over_peak", sweep[64].rps / peak, None, "0.9")
    c16 = sweep[16]
    if len(c16.worker_cpu_s) > 1:
        _metric("http_c16_worker_cpu_balance", min(c16.worker_cpu_s) / max(max(c16.worker_cpu_s), 1e-9), None,
                "1 = even (min / max worker CPU at concurrency 16)")
    _metric("http_c16_server_cpu_ms", sum(c16.worker_cpu_s) * 1e3 / c16.requests)
    _metric("http_c16_client_cpu_ms", c16.client_cpu_s * 1e3 / c16.requests)
    rss = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    print(f"metric: peak_rss_mb={rss / 1024:.0f}")


def run(quick: bool, products: Sequence[Product] | None = None, workers: int = WORKERS) -> None:
    """Seed a data dir, start ``sitewide serve`` on loopback, time it, print ``metric:`` lines. ``products``:
    the catalogue (default: the packaged 2,000 real products)."""
    measure(start(products, workers), quick)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    ap.add_argument(
        "--workers", type=int, default=WORKERS, help="server worker processes (one per core: as it is deployed)"
    )
    ap.add_argument("--products", type=int, default=0, help="a generated catalogue of this size (0: packaged)")
    args = ap.parse_args()
    products = generated(args.products) if args.products else None
    if args.products and products is None:
        ap.error("--products needs sitewide.simulator.big_catalogue (not on this branch yet)")
    run(args.quick, products, workers=args.workers)


if __name__ == "__main__":
    main()
