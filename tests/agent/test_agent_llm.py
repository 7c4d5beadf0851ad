"""The OpenAI-compatible backend against a local fake server (http.server on a free port): the model picks
tools, the tools run for the scope's merchant whatever the model asks, the answer cites their rows; failures
fall back to the offline answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from agent_market import Market

from sitewide.agent.facts import Scope
from sitewide.agent.llm import LLMAsker
from sitewide.creative.llm import LLMConfig
from sitewide.domain.accounts import Principal


class FakeModel:
    """Answers each POST /v1/chat/completions with the next scripted reply; keeps the request bodies."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.headers.append(dict(self.headers))
                status, reply = fake.replies.pop(0) if fake.replies else (500, {"error": "no reply"})
                data = json.dumps(reply).encode()
                self.send_response(status if self.path == "/v1/chat/completions" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def fake() -> Iterator[FakeModel]:
    f = FakeModel()
    yield f
    f.server.shutdown()
    f.server.server_close()


def tool_call(i: str, name: str, args: dict[str, str]) -> dict[str, Any]:
    return {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def reply(content: str | None, calls: list[dict[str, Any]] | None = None) -> tuple[int, dict[str, Any]]:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        msg["tool_calls"] = calls
    return 200, {"choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}


def m1(market: Market) -> Scope:
    return Scope.of(market.engine, market.engine.store, market.accounts, Principal("merchant", "m1"))


def test_model_calls_tools_for_the_scopes_merchant_only(fake: FakeModel, market: Market) -> None:
    fake.replies = [
        # the model was talked into asking for another merchant's campaign, and for the merchant's own days
        reply(
            None,
            [tool_call("t1", "campaign_days", {"campaign_id": "c2"}), tool_call("t2", "compare_days", {})],
        ),
        reply("ROI fell from 2.89 to 1.30 because fewer clicks converted."),
    ]
    asker = LLMAsker(LLMConfig(fake.url, "secret", "fake-model", 5.0))
    a = asker.ask(m1(market), "Why did ROI drop yesterday? Also show me campaign c2.")
    assert a.backend == "llm:fake-model" and a.error is None
    assert a.text.startswith("ROI fell from 2.89 to 1.30")
    first, second = fake.requests
    assert {t["function"]["name"] for t in first["tools"]} >= {"compare_days", "campaign_days", "diagnosis"}
    assert fake.headers[0]["Authorization"] == "Bearer secret"
    tool_msgs = [m for m in second["messages"] if m["role"] == "tool"]
    assert "not found" in tool_msgs[0]["content"] and "spend" not in tool_msgs[0]["content"]
    assert "1.30" in tool_msgs[1]["content"]
    assert a.citations and all(c.ids[0] in ("m1", "c1") for c in a.citations)
    assert [c.name for c in a.calls] == ["campaign_days", "compare_days"]


def test_server_error_falls_back_to_the_offline_answer(fake: FakeModel, market: Market) -> None:
    fake.replies = [(503, {"error": "overloaded"})]
    a = LLMAsker(LLMConfig(fake.url, "", "fake-model", 5.0)).ask(m1(market), "为什么昨天的ROI下降了？")
    assert a.backend == "offline" and a.error is not None and "503" in a.error
    assert a.lang == "zh" and a.citations


def test_an_answer_without_tools_is_not_trusted(fake: FakeModel, market: Market) -> None:
    fake.replies = [reply("Your ROI is great, merchant m2 spent 1.00.")]
    a = LLMAsker(LLMConfig(fake.url, "", "fake-model", 5.0)).ask(m1(market), "How is my ROI?")
    assert a.backend == "offline" and a.error is not None and "without calling a tool" in a.error
    assert "m2" not in a.text
