"""The OpenAI-compatible backend against a fake server on 127.0.0.1 speaking the chat-completions API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sitewide.creative.generate import OfflineGenerator
from sitewide.creative.llm import LLMConfig, OpenAICompatibleGenerator
from sitewide.creative.studio import CreativeStudio
from sitewide.domain.creative import Angle, BrandKit, CopyRequest, Lang, ProductFacts, ReviewEvidence

FACTS = ProductFacts("p1", "s1", "Acme linen dress", "Acme", "Dresses", 49_000_000)
REQ = CopyRequest(
    FACTS, ReviewEvidence("p1", 0, None), BrandKit("s1", required_terms=("Acme",)), Lang.EN, n=2
)


class FakeLLM(BaseHTTPRequestHandler):
    mode = "ok"
    seen: list[dict] = []  # type: ignore[type-arg]

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeLLM.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        mode = FakeLLM.mode
        if mode == "slow":
            time.sleep(1.0)
        if mode == "500":
            self.send_response(500)
            self.end_headers()
            return
        content = {
            "ok": '```json\n{"creatives": [{"title": "Acme linen dress", "points": ["Linen, for $49"]},'
            ' {"title": "The best dress", "points": ["Now $19"]}]}\n```',
            "slow": '{"creatives": [{"title": "Acme dress", "points": ["x"]}]}',
            "not_json": "Sure! Here are some titles: Acme dress",
            "wrong_shape": '{"creatives": [{"headline": "Acme"}]}',
        }.get(mode, "")
        reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
        if mode == "no_choices":
            reply = {"error": "oops"}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    FakeLLM.seen = []
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_drafts_come_from_the_server_and_are_checked_like_any_other(server: str) -> None:
    FakeLLM.mode = "ok"
    gen = OpenAICompatibleGenerator(LLMConfig(server, api_key="k-123", model="qwen-test"), OfflineGenerator())
    drafts = gen.generate(REQ)
    assert [d.title for d in drafts] == ["Acme linen dress", "The best dress"]
    assert all(d.angle is Angle.LLM and d.source == "llm:qwen-test" for d in drafts)
    (call,) = FakeLLM.seen
    assert call["path"] == "/v1/chat/completions" and call["auth"] == "Bearer k-123"
    assert call["body"]["model"] == "qwen-test" and call["body"]["messages"][0]["role"] == "system"
    assert "Acme" in call["body"]["messages"][0]["content"]
    res = CreativeStudio(gen).make(FACTS, [], REQ.kit, (Lang.EN,), n=2)
    verdicts = {c.draft.title: c.check for c in res.creatives}
    assert verdicts["Acme linen dress"].passed  # linen is in the title: an attribute claim; $49 is the price
    assert set(verdicts["The best dress"].rules) == {"banned_word", "required_term", "price_mismatch"}


@pytest.mark.parametrize("mode", ["slow", "500", "not_json", "wrong_shape", "no_choices"])
def test_timeouts_and_malformed_replies_fall_back_to_the_offline_default(server: str, mode: str) -> None:
    FakeLLM.mode = mode
    gen = OpenAICompatibleGenerator(LLMConfig(server, timeout_s=0.3), OfflineGenerator())
    drafts = gen.generate(REQ)
    assert drafts == OfflineGenerator().generate(REQ)
    assert all(d.source == "offline" for d in drafts)
    assert gen.fallbacks == 1 and gen.last_error
    if mode == "slow":
        assert "Timeout" in gen.last_error


def test_no_server_at_all_falls_back() -> None:
    gen = OpenAICompatibleGenerator(LLMConfig("http://127.0.0.1:9/v1", timeout_s=0.3), OfflineGenerator())
    assert gen.generate(REQ) == OfflineGenerator().generate(REQ)
    assert gen.last_error and "Connect" in gen.last_error
