"""An OpenAI-compatible chat-completions backend for copy (Qwen's compatible mode, vLLM, Ollama, …).

Configured by base URL + key + model, never required. ``POST {base_url}/chat/completions`` with the product
facts, the review evidence and the brand kit's rules in the prompt; the reply must be JSON
``{"creatives": [{"title": str, "points": [str, ...]}, ...]}`` (a fenced ```json block is accepted). Any
failure — connection error, timeout, non-2xx status, a reply that is not that JSON — falls back to the offline
generator for this request, and ``last_error`` says what went wrong. The drafts are checked like any other:
the model is told the rules, the checks enforce them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx

from sitewide.domain.creative import ASPECT_BY_KEY, Angle, CopyDraft, CopyRequest, Lang
from sitewide.ports import TextGenerator

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class MalformedReply(ValueError):
    """The server answered, but not with the JSON the prompt asked for."""


@dataclass(frozen=True, slots=True)
class LLMConfig:
    base_url: str  # e.g. "http://127.0.0.1:8001/v1"
    api_key: str = ""
    model: str = "qwen-plus"
    timeout_s: float = 10.0
    temperature: float = 0.7


def chat_client(config: LLMConfig, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An HTTP client for ``config``'s chat-completions server (bearer key when one is set)."""
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    return httpx.Client(
        base_url=config.base_url.rstrip("/"), headers=headers, timeout=config.timeout_s, transport=transport
    )


def build_messages(req: CopyRequest) -> list[dict[str, str]]:
    f, e, k = req.facts, req.evidence, req.kit
    lang = "Simplified Chinese" if req.lang is Lang.ZH else "English"
    supported = [a.aspect for a in e.aspects if a.mentions >= 2 and a.positive_share >= 0.6]
    price = f"{f.price_micros / 1e6:.2f} {f.currency}"
    if f.list_price_micros:
        price += f" (list price {f.list_price_micros / 1e6:.2f}, discount {f.discount_pct() or 0}%)"
    system = (
        f"You write e-commerce ad copy in {lang}. Reply with JSON only: "
        '{"creatives": [{"title": "...", "points": ["...", "..."]}]}. '
        f"Write {req.n} creatives, each a title and 1-3 short selling points. Rules: the title must contain "
        f"{list(k.required_terms)}; never use {list(k.banned_words)} or claim {list(k.banned_claims)}; no "
        "superlatives (best, #1, 最, 第一); quote no price but the catalogue's; praise only these aspects: "
        f"{[ASPECT_BY_KEY[a].en for a in supported]}. Tone: {', '.join(k.tone_words) or 'plain'}."
    )
    user = json.dumps(
        {
            "title": f.title,
            "brand": f.brand,
            "category": f.category,
            "price": price,
            "attributes": dict(f.attributes),
            "review_phrases": list(e.key_phrases),
            "reviews": e.reviews,
        },
        ensure_ascii=False,
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_reply(body: object, lang: Lang, source: str) -> list[CopyDraft]:
    """Drafts from a chat-completions response body; :class:`MalformedReply` when it is not the asked JSON."""
    try:
        content = body["choices"][0]["message"]["content"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError) as exc:
        raise MalformedReply(f"no choices[0].message.content: {exc!r}") from None
    if not isinstance(content, str):
        raise MalformedReply("message content is not text")
    m = _FENCE.search(content)
    try:
        data = json.loads(m.group(1) if m else content)
    except json.JSONDecodeError as exc:
        raise MalformedReply(f"content is not JSON: {exc}") from None
    items = data.get("creatives") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise MalformedReply("no 'creatives' list")
    out = []
    for it in items:
        title = it.get("title") if isinstance(it, dict) else None
        points = it.get("points") if isinstance(it, dict) else None
        if (
            not isinstance(title, str)
            or not isinstance(points, list)
            or not all(isinstance(p, str) for p in points)
        ):
            raise MalformedReply("a creative lacks a text 'title' or a list of text 'points'")
        out.append(CopyDraft(title.strip(), tuple(p.strip() for p in points), lang, Angle.LLM, source))
    return out


class OpenAICompatibleGenerator:
    """:class:`~sitewide.ports.TextGenerator` over any server speaking the chat-completions API."""

    def __init__(
        self, config: LLMConfig, fallback: TextGenerator, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.config = config
        self.fallback = fallback
        self.name = f"llm:{config.model}"
        self.last_error: str | None = None
        self.calls = self.fallbacks = 0
        self._client = chat_client(config, transport)

    def generate(self, req: CopyRequest) -> list[CopyDraft]:
        self.calls += 1
        try:
            r = self._client.post(
                "/chat/completions",
                json={
                    "model": self.config.model,
                    "messages": build_messages(req),
                    "temperature": self.config.temperature,
                },
            )
            r.raise_for_status()
            drafts = parse_reply(r.json(), req.lang, self.name)
            self.last_error = None
            return drafts[: max(req.n, 1)]
        except (httpx.HTTPError, ValueError) as exc:  # json errors and MalformedReply are ValueErrors
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.fallbacks += 1
            return self.fallback.generate(req)

    def close(self) -> None:
        self._client.close()


__all__ = ["LLMConfig", "MalformedReply", "OpenAICompatibleGenerator", "build_messages", "parse_reply"]
