"""The console's words in English and Simplified Chinese: JSON message catalogues, language negotiation, and
money in the deployment's one currency.

Catalogues are plain JSON shipped with the package (``i18n/en/messages.json``, ``i18n/zh/messages.json``): no
compile step, so a fresh clone and an installed wheel read the same files. A message id is the English text
(gettext style: ``_("Campaigns")``) or, for a machine code shown to people, ``KIND.code`` (``reason.outbid``,
``rule.stock``, ``factor.logistics.on_time``), whose English wording lives in the English catalogue. A missing
translation falls back to English, and a code with no wording at all to its words without underscores, so a
page never shows a snake_case token.

The language of a request: ``?lang=`` (then remembered in a cookie), else the cookie, else the browser's
``Accept-Language``, else English.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

LANGS: tuple[str, ...] = ("en", "zh")
DEFAULT_LANG = "en"
LANG_COOKIE = "sitewide_lang"
HTML_LANG = {"en": "en", "zh": "zh-CN"}
CURRENCY_SYMBOLS = {"USD": "$", "CNY": "¥", "EUR": "€", "GBP": "£", "JPY": "¥"}
_Q = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of one language (read once, on first use)."""
    if lang not in LANGS:
        raise KeyError(lang)
    text = (resources.files("sitewide.i18n") / lang / "messages.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return {str(k): str(v) for k, v in data.items() if not str(k).startswith("@")}


def pick_lang(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: an explicit choice, else the browser's preference, else English."""
    for choice in (query, cookie):
        if choice:
            base = choice.strip().lower().split("-")[0].split("_")[0]
            if base in LANGS:
                return base
    best, best_q = DEFAULT_LANG, 0.0
    for part in (accept_language or "").split(","):
        m = _Q.match(part)
        if not m:
            continue
        base = m.group(1).lower()
        try:
            q = float(m.group(2)) if m.group(2) else 1.0
        except ValueError:
            continue
        if base in LANGS and q > best_q:
            best, best_q = base, q
    return best


def humanize(code: str) -> str:
    """The last resort for a code without wording: its words, without underscores or dots."""
    return code.rsplit(".", 1)[-1].replace("_", " ")


@dataclass(frozen=True)
class Translator:
    """One language's words. ``gettext`` for interface text, ``code`` for a machine code shown to people."""

    lang: str

    @property
    def messages(self) -> dict[str, str]:
        return catalogue(self.lang)

    def gettext(self, msgid: str, /, **values: Any) -> str:
        text = self.messages.get(msgid) or catalogue(DEFAULT_LANG).get(msgid) or msgid
        return text.format(**values) if values else text

    __call__ = gettext

    def has(self, key: str) -> bool:
        return key in self.messages or key in catalogue(DEFAULT_LANG)

    def code(self, kind: str, code: object, **values: Any) -> str:
        """The wording of ``kind.code`` (e.g. ``reason.outbid``); its plain words if the catalogues lack it."""
        key = f"{kind}.{code}"
        if not self.has(key):
            return humanize(str(code))
        return self.gettext(key, **values)

    def explain(self, reason: Any) -> str:
        """A rule's verdict in words: ``why.RULE.CODE`` filled with the verdict's numbers where this language
        has it, else the rule's own (English) message."""
        key = f"why.{reason.rule}.{reason.code}"
        text = self.messages.get(key)
        if text is None:
            return str(reason.message)
        try:
            return text.format(**dict(reason.numbers))
        except (KeyError, ValueError, IndexError, TypeError):
            return str(reason.message)

    def number(self, value: float | None, kind: str) -> str:
        """A factor or rule figure rounded for people: ``share`` → ``93.7%``, ``days``/``hours`` → one decimal,
        ``rating`` → two."""
        if value is None:
            return "–"
        if kind == "share":
            return f"{100 * value:.1f}%"
        if kind == "rating":
            return f"{value:.2f}"
        return f"{value:.1f}"


@cache
def translator(lang: str) -> Translator:
    return Translator(lang if lang in LANGS else DEFAULT_LANG)


def currency_symbol(currency: str) -> str:
    return CURRENCY_SYMBOLS.get(currency.upper(), "")


def format_time(ms: int) -> str:
    """``2026-12-03 16:52 UTC``: a moment the service recorded (milliseconds since the epoch), to the minute."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_money(micros: int | None, currency: str, places: int = 2) -> str:
    """``$1,234.56`` (or ``1,234.56 XYZ`` for a currency without a symbol); ``–`` for none."""
    if micros is None:
        return "–"
    q = 10 ** (6 - places)
    v = int(micros)
    neg = v < 0
    units = (abs(v) + q // 2) // q
    whole, frac = divmod(units, 10**places)
    text = f"{whole:,}" + (f".{frac:0{places}d}" if places else "")
    sym = currency_symbol(currency)
    body = f"{sym}{text}" if sym else f"{text} {currency.upper()}"
    return f"-{body}" if neg else body


__all__ = [
    "DEFAULT_LANG",
    "HTML_LANG",
    "LANGS",
    "LANG_COOKIE",
    "Translator",
    "catalogue",
    "currency_symbol",
    "format_money",
    "format_time",
    "humanize",
    "pick_lang",
    "translator",
]
