"""``sitewide serve --workers N``: N worker processes, each with its own listening socket on the same address
(``SO_REUSEPORT``), so that the Linux kernel spreads new connections over the workers by a hash of each
connection's addresses.

Why not uvicorn's own ``--workers``: there every worker accepts from one shared listening socket, and whichever
worker's event loop wakes first accepts every connection waiting (a burst of keep-alive connections all land on
one worker). Measured on the 2-core machine at concurrency 16: one worker used 2.3 s of CPU, the other 0.2 s, so
the server ran on one core. With one socket per worker the kernel picks the socket, not the workers' race.

What the kernel's choice costs with few connections: it hashes each connection's addresses, so a keep-alive
connection lands on a worker at random and stays there for its life. With 4 connections over 2 workers, all 4
land on one worker with probability 1/8 and 3 on one with probability 1/2, and that worker's core caps the rate
(``bench/serving_http.py`` at concurrency 4: 383 req/s in one run, 805-875 in others; it prints each worker's
CPU seconds per level, which show the split). Many connections even out (at 16: min / max worker CPU
0.92-1.0). Not fixed: a worker cannot refuse a connection the kernel gave it, and what could place connections
by load (an eBPF ``SO_ATTACH_REUSEPORT_EBPF`` program reading a map of connection counts, or passing accepted
sockets between workers) is more machinery than this case is worth. A client that keeps only a few connections
(a proxy in front) should balance across the workers itself or open several connections per worker.

The supervisor (this process) binds the N sockets before it starts the workers and keeps them open: a worker that
dies is started again on the same socket, so the connections the kernel queued on it are served, not reset. Each
worker builds its app (``factory``, an import string as uvicorn takes it) before it serves, and says so on a
queue; once all have, the supervisor writes ``READY_LINE`` to stderr (a worker that exits before then stops the
whole server: it would fail again). SIGTERM or SIGINT stops the workers (uvicorn's graceful shutdown in each),
then the supervisor exits.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import socket
import sys
import time
from typing import Any

READY_LINE = "sitewide: all {n} workers serving"


def reuseport_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port`` that other sockets may share (``SO_REUSEPORT``, Linux ≥ 3.9)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError("--workers > 1 needs SO_REUSEPORT (Linux or BSD)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto named, so that asyncio sets TCP_NODELAY on each accepted connection (it checks proto == TCP);
    # with proto 0 small responses wait on Nagle's algorithm (~40 ms per keep-alive request)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _exit_with(supervisor: int) -> None:
    """A worker's watch on its supervisor: a supervisor killed outright (SIGKILL) cannot stop its workers, so a
    worker whose parent has changed stops itself (SIGTERM: uvicorn's graceful shutdown; at once while it is
    still building its app)."""
    while os.getppid() == supervisor:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def _worker(
    index: int, sock: socket.socket, factory: str, options: dict[str, Any], ready: multiprocessing.Queue[int]
) -> None:
    import threading

    import uvicorn

    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    config = uvicorn.Config(factory, factory=True, **options)
    config.load()  # builds the app and its engine before this worker takes a connection
    ready.put(index)
    uvicorn.Server(config).run(sockets=[sock])


def run_workers(factory: str, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve ``factory`` (``"module:function"`` returning an ASGI app) with ``workers`` processes, one
    ``SO_REUSEPORT`` socket each, until SIGTERM or SIGINT. ``options``: more ``uvicorn.Config`` arguments."""
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters, as uvicorn's own workers
    socks = [reuseport_socket(host, port) for _ in range(workers)]
    ready: multiprocessing.Queue[int] = ctx.Queue()
    opts = dict(options, host=host, port=port)
    stopping = False

    def start(i: int) -> multiprocessing.process.BaseProcess:
        p = ctx.Process(target=_worker, args=(i, socks[i], factory, opts, ready), name=f"sitewide-worker-{i}")
        p.start()
        return p

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    procs = [start(i) for i in range(workers)]
    n_ready, announced = 0, False
    try:
        while not stopping:
            try:
                ready.get(timeout=0.1)  # a SIGTERM is acted on within 0.1 s (the wait resumes after the handler)
                n_ready += 1
            except queue.Empty:
                pass
            if not announced and n_ready >= workers:
                print(READY_LINE.format(n=workers), file=sys.stderr, flush=True)
                announced = True
            for i, p in enumerate(procs):
                if p.is_alive() or stopping:
                    continue
                if not announced:  # a worker that cannot build its app would fail again: give up
                    raise SystemExit(f"sitewide: worker {i} exited with {p.exitcode} while starting")
                print(f"sitewide: worker {i} (pid {p.pid}) exited with {p.exitcode}; starting it again",
                      file=sys.stderr, flush=True)
                procs[i] = start(i)
    finally:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)  # uvicorn's graceful shutdown
        deadline = time.monotonic() + 30
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
        for s in socks:
            s.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
