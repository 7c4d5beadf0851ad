"""An OpenAI-compatible model for the question loop (Qwen's compatible mode, vLLM, Ollama, …), optional.

The same port pattern as :mod:`sitewide.creative.llm` (its :class:`~sitewide.creative.llm.LLMConfig`: base URL,
key, model, timeout): ``POST {base_url}/chat/completions`` with the question, the tools of
:mod:`sitewide.agent.tools` as functions, and ``tool_choice="auto"``; each tool call the model makes is run for
the merchant of the scope (the model names tools and arguments, never the merchant) and its result goes back
as a ``tool`` message, for at most ``max_rounds`` rounds. The answer cites every row the tools returned. Any
failure — connection error, timeout, non-2xx, a reply that is not a chat completion, an answer given without
calling a tool (it would rest on nothing of the merchant's) — falls back to the offline answer, and
``Answer.error`` says what went wrong.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx

from sitewide.agent.ask import Answer, ToolCall, ask_offline, language
from sitewide.agent.facts import Scope
from sitewide.agent.tools import TOOLS, call
from sitewide.creative.llm import LLMConfig, MalformedReply, chat_client


def tool_specs() -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": {
                    "type": "object",
                    "properties": {p: {"type": "string", "description": d} for p, d in t.params},
                    "additionalProperties": False,
                },
            },
        }
        for t in TOOLS.values()
    ]


def system_prompt(lang: str, day: str | None) -> str:
    reply = "Simplified Chinese" if lang == "zh" else "English"
    return (
        "You advise one merchant of a marketplace on its promotion campaigns. Answer only from what the tools "
        "return (call at least one); quote figures as they appear; say which campaign, product or day each "
        f"figure is from. The tools only ever see this merchant's data. Reply in {reply}. "
        f"The last settled day is {day or 'unknown'}."
    )


class LLMAsker:
    def __init__(
        self, config: LLMConfig, transport: httpx.BaseTransport | None = None, max_rounds: int = 4
    ) -> None:
        self.config = config
        self.max_rounds = max_rounds
        self.name = f"llm:{config.model}"
        self._client = chat_client(config, transport)

    def _loop(self, scope: Scope, question: str) -> Answer:
        lang = language(question)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system_prompt(lang, scope.last_settled_day())},
            {"role": "user", "content": question},
        ]
        calls: list[ToolCall] = []
        cites: dict[Any, None] = {}
        for _ in range(self.max_rounds):
            r = self._client.post(
                "/chat/completions",
                json={
                    "model": self.config.model,
                    "messages": messages,
                    "tools": tool_specs(),
                    "tool_choice": "auto",
                    "temperature": 0,
                },
            )
            r.raise_for_status()
            try:
                msg = r.json()["choices"][0]["message"]
            except (KeyError, IndexError, TypeError) as exc:
                raise MalformedReply(f"no choices[0].message: {exc!r}") from None
            tcs = msg.get("tool_calls") or []
            if not tcs:
                content = msg.get("content")
                if not isinstance(content, str) or not content.strip():
                    raise MalformedReply("an empty answer")
                if not calls:
                    raise MalformedReply("answered without calling a tool")
                return Answer(question, lang, content.strip(), tuple(cites), tuple(calls), self.name)
            messages.append({"role": "assistant", "content": msg.get("content") or "", "tool_calls": tcs})
            for tc in tcs:
                try:
                    fn = tc["function"]
                    name = str(fn["name"])
                    args = json.loads(fn.get("arguments") or "{}")
                except (KeyError, TypeError, json.JSONDecodeError) as exc:
                    raise MalformedReply(f"a malformed tool call: {exc!r}") from None
                if not isinstance(args, dict):
                    raise MalformedReply("tool arguments are not an object")
                res = call(scope, name, {**args, "lang": lang})
                calls.append(ToolCall(name, tuple((k, str(v)) for k, v in args.items()), res.text))
                cites.update(dict.fromkeys(res.rows))
                messages.append({"role": "tool", "tool_call_id": tc.get("id", name), "content": res.text})
        raise MalformedReply(f"no answer after {self.max_rounds} rounds of tool calls")

    def ask(self, scope: Scope, question: str) -> Answer:
        try:
            return self._loop(scope, question)
        except (httpx.HTTPError, ValueError) as exc:  # json errors and MalformedReply are ValueErrors
            return replace(ask_offline(scope, question), error=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self._client.close()


class OfflineAsker:
    name = "offline"

    def ask(self, scope: Scope, question: str) -> Answer:
        return ask_offline(scope, question)


def make_asker(
    llm_url: str | None, llm_key: str | None, llm_model: str, llm_timeout_s: float
) -> LLMAsker | OfflineAsker:
    """The model when a base URL is configured (the same settings as the creative studio's), else offline."""
    if not llm_url:
        return OfflineAsker()
    return LLMAsker(LLMConfig(llm_url, llm_key or "", llm_model, llm_timeout_s))


__all__ = ["LLMAsker", "OfflineAsker", "make_asker", "system_prompt", "tool_specs"]
