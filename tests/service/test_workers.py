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


def test_workers_share_the_port_and_the_connections_and_stop_on_sigterm(tmp_path: Path) -> None:
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
    try:
        deadline = time.monotonic() + 60
        while READY_LINE.format(n=2) not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.1)
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
        for pid in served:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
