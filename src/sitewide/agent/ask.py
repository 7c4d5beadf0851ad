"""Questions in natural language, answered by a tool-using loop over the read-only report functions of
:mod:`sitewide.agent.tools`, always for the merchant of the scope.

Offline (the default): the question's intent is read from keywords (English and Chinese), the intent's tools
are called, and a template in the question's language (Chinese when it contains CJK characters) writes the
answer from the figures the tools returned. With an OpenAI-compatible model (:mod:`sitewide.agent.llm`) the
model picks the tools; either way the answer carries the rows every tool call used as citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sitewide.agent.facts import Scope
from sitewide.agent.tools import ToolResult, call
from sitewide.agent.types import Citation

_CJK = re.compile(r"[\u4e00-\u9fff]")
_DAY = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_ID = re.compile(r"\b([a-z]{1,3}[-_]?[0-9a-z]*\d[0-9a-z_-]*)\b", re.IGNORECASE)

# intent → keywords (lower-case English words or Chinese phrases); first match wins, in this order
INTENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("roi_change", ("roi", "return on", "投产", "回报", "投入产出")),
    ("losses", ("not shown", "lose", "lost", "outbid", "auction", "竞价", "没展示", "未展示", "曝光少")),
    ("eligibility", ("eligib", "pool", "excluded", "入池", "资格", "不能推广", "被移出")),
    ("shop_score", ("shop score", "experience", "delivery", "体验分", "店铺分", "物流")),
    ("spend", ("spend", "budget", "cost", "花费", "预算", "消耗")),
    ("advice", ("should", "suggest", "advice", "improve", "what to do", "建议", "怎么办", "如何", "优化")),
)
PLANS: dict[str, tuple[str, ...]] = {
    "roi_change": ("compare_days", "auction_losses", "diagnosis"),
    "losses": ("auction_losses", "diagnosis"),
    "eligibility": ("eligibility",),
    "shop_score": ("shop_score",),
    "spend": ("campaign_days", "diagnosis"),
    "advice": ("diagnosis",),
}


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    args: tuple[tuple[str, str], ...]
    result: str


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    lang: str
    text: str
    citations: tuple[Citation, ...]
    calls: tuple[ToolCall, ...]
    backend: str  # "offline" or "llm:<model>"
    error: str | None = None  # the model's failure when the offline answer stands in


def language(question: str) -> str:
    return "zh" if _CJK.search(question) else "en"


def intent(question: str) -> str:
    q = question.lower()
    for name, words in INTENTS:
        if any(w in q for w in words):
            return name
    return "advice"


def _args(question: str, name: str, scope: Scope) -> dict[str, object]:
    """Arguments read from the question: a day it names ("yesterday" = the last settled day), and ids it names
    (passed on as they are: the tools check them against the merchant's scope)."""
    args: dict[str, object] = {}
    m = _DAY.search(question)
    if m:
        args["day"] = m.group(1)
    ids = [x for x in _ID.findall(question) if not _DAY.fullmatch(x)]
    camps = [x for x in ids if x.lower().startswith("c")]
    prods = [x for x in ids if x.lower().startswith("p")]
    if camps and name in ("compare_days", "campaign_days", "auction_losses"):
        args["campaign_id"] = camps[0]
    if prods and name == "eligibility":
        args["product_id"] = prods[0]
    return args


def _get(r: ToolResult, key: str) -> str | None:
    return next((v for k, v in r.data if k == key), None)


_DRIVER = {
    "en": {"cvr": "conversion rate", "order_value": "order value", "cpc": "cost per click"},
    "zh": {"cvr": "转化率", "order_value": "客单价", "cpc": "点击单价"},
}


def _roi_text(lang: str, r: ToolResult) -> str:
    day, roi, prev, proi = _get(r, "day"), _get(r, "roi"), _get(r, "prev_day"), _get(r, "prev_roi")
    if day is None:
        return "还没有已结算的数据。" if lang == "zh" else "There is no settled day yet."
    if prev is None:
        return (
            f"{day} 的 ROI 为 {roi}，没有更早的结算日可比较。"
            if lang == "zh"
            else f"ROI on {day} was {roi}; there is no earlier settled day to compare."
        )
    drv, chg = _get(r, "driver"), _get(r, "driver_change")
    worst = _get(r, "worst_campaign")
    if lang == "zh":
        out = f"{day} 的 ROI 为 {roi}，前一结算日 {prev} 为 {proi}。"
        if drv:
            out += f"变化最大的因素是{_DRIVER['zh'][drv]}（{chg}）。"
        if worst:
            out += f"下降最多的推广计划是 {worst}（ROI {_get(r, 'worst_campaign_roi_change')}）。"
        return out
    out = f"ROI on {day} was {roi}, against {proi} on {prev}."
    if drv:
        out += f" The biggest mover was the {_DRIVER['en'][drv]} ({chg})."
    if worst:
        out += f" The campaign that fell most is {worst} (ROI {_get(r, 'worst_campaign_roi_change')})."
    return out


def compose(lang: str, which: str, results: list[tuple[str, ToolResult]]) -> str:
    """The offline answer: a template per intent over the tools' figures, then their lines."""
    parts = []
    for name, r in results:
        if name == "compare_days":
            parts.append(_roi_text(lang, r))
        elif name == "diagnosis":
            n = _get(r, "findings") or "0"
            head = f"我发现 {n} 个问题：" if lang == "zh" else f"I found {n} problem(s):"
            parts.append(
                head + "\n" + r.text
                if n != "0"
                else ("没有发现问题。" if lang == "zh" else "I found no problems.")
            )
        else:
            title = {
                "auction_losses": ("Why ads were not shown", "广告未展示的原因"),
                "eligibility": ("Promotion pool", "推广池"),
                "shop_score": ("Shop experience score", "店铺体验分"),
                "campaign_days": ("Settled days", "已结算日"),
            }.get(name, (name, name))
            parts.append(f"{title[1] if lang == 'zh' else title[0]}:\n{r.text}")
    return "\n\n".join(parts)


def ask_offline(scope: Scope, question: str) -> Answer:
    lang = language(question)
    which = intent(question)
    results: list[tuple[str, ToolResult]] = []
    calls = []
    for name in PLANS[which]:
        args = _args(question, name, scope)
        r = call(scope, name, {**args, "lang": lang})
        results.append((name, r))
        calls.append(ToolCall(name, tuple((k, str(v)) for k, v in args.items()), r.text))
    cites = tuple(dict.fromkeys(c for _, r in results for c in r.rows))
    return Answer(question, lang, compose(lang, which, results), cites, tuple(calls), "offline")


__all__ = ["Answer", "ToolCall", "ask_offline", "compose", "intent", "language"]
