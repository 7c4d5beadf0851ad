"""``sitewide serve --workers N``'s supervisor (``sitewide.service.workers``): one SO_REUSEPORT socket per worker,
so that connections are spread over the workers (uvicorn's shared socket let one worker take nearly all), and
SIGTERM stops every worker. Run with a tiny ASGI app that answers its worker's pid, so that the test needs no
engine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import sitewide
from sitewide.service.workers import READY_LINE

APP = '''
import os


def make():
    async def app(scope, receive, send):
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    return app
'''

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(conn: socket.socket) -> int:
    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
        chunk = conn.recv(4096)
        assert chunk, "connection closed"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    return int(body)


def _start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """The supervisor over two workers of the pid app, once both serve."""
    (tmp_path / "pidapp.py").write_text(APP)
    port = _free_port()
    src = str(Path(sitewide.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), src]))
    code = (
        "from sitewide.service.workers import run_workers; "
        f"run_workers('pidapp:make', '127.0.0.1', {port}, 2, log_level='warning', lifespan='off')"
    )
    log = tmp_path / "err.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path, stderr=err)
    deadline = time.monotonic() + 60
    while READY_LINE.format(n=2) not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.1)
    return proc, port, log


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" in status.read_text()


def test_workers_share_the_port_and_the_connections_and_stop_on_sigterm(tmp_path: Path) -> None:
    proc, port, _ = _start(tmp_path)
    try:
        conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
        try:
            served = Counter(_get(c) for c in conns)  # the worker pid behind each keep-alive connection
            again = [_get(c) for c in conns]  # a connection stays with its worker
        finally:
            for c in conns:
                c.close()
        assert len(served) == 2 and proc.pid not in served
        assert min(served.values()) >= 5, served  # all 40 on one worker: P = 2**-39; under 5: P < 1e-6
        assert Counter(again) == served
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert all(_gone(pid) for pid in served)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workers_stop_when_the_supervisor_is_killed_outright(tmp_path: Path) -> None:
    proc, port, _ = _start(tmp_path)
    workers: set[int] = set()
    try:
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                workers.add(_get(c))
        proc.kill()  # SIGKILL: no chance to stop its workers
        proc.wait()
        deadline = time.monotonic() + 20
        while not all(_gone(pid) for pid in workers):
            assert time.monotonic() < deadline, f"orphaned workers still running: {workers}"
            time.sleep(0.2)
    finally:
        for pid in workers:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_supervisor_prepares_the_store_and_one_operator_key_without_building_an_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sitewide import wiring
    from sitewide.domain.time import SystemClock
    from sitewide.settings import Settings
    from sitewide.storage.sql import SqlStore

    def no_engine(*a: object, **kw: object) -> None:
        raise AssertionError("the supervisor built an engine")

    monkeypatch.delenv("SITEWIDE_OPERATOR_KEY", raising=False)
    monkeypatch.setattr(wiring, "make_engine", no_engine)
    settings = Settings(data_dir=tmp_path)
    shown: list[str] = []
    wiring.prepare_service(settings, shown.append)
    wiring.prepare_service(settings, shown.append)  # a restart: the key exists, nothing is shown again
    assert len(shown) == 1
    store = SqlStore.from_url(settings.store_url())
    assert len(store.list_products()) > 1_000  # the packaged catalogue
    accounts, _ = wiring.build_accounts(store, SystemClock())
    try:
        principal = accounts.authenticate(shown[0])
        assert principal is not None and principal.role == "operator"
        assert accounts.get_merchant(store.list_shops()[0].merchant_id) is not None
    finally:
        accounts.close()


def test_a_worker_that_dies_is_started_again_on_its_socket(tmp_path: Path) -> None:
    proc, port, log = _start(tmp_path)
    try:
        seen: set[int] = set()
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                seen.add(_get(c))
        victim = min(seen)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while "starting it again" not in log.read_text() or len(_worker_pids(proc.pid) - seen) < 1:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # the replacement builds its app, then serves the connections the kernel hashes to that socket
        after: set[int] = set()
        deadline = time.monotonic() + 60
        while len(after) < 2:
            assert time.monotonic() < deadline, after
            with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
                after.add(_get(c))
        assert victim not in after and len(after - seen) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _worker_pids(pid: int) -> set[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(k) for k in kids if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()}
