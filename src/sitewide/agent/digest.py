"""The daily digest: each merchant's findings for a day (the operator's: every merchant with campaigns; a
merchant's: its own), and the same as short text in English and Chinese."""

from __future__ import annotations

from dataclasses import dataclass

from sitewide.agent.facts import Scope, findings
from sitewide.agent.thresholds import yuan
from sitewide.agent.types import Finding
from sitewide.domain.accounts import Principal
from sitewide.engine import Engine
from sitewide.ports import ServiceRecords, Store


@dataclass(frozen=True, slots=True)
class MerchantDigest:
    merchant_id: str
    day: str
    findings: tuple[Finding, ...]


def daily_digest(
    engine: Engine, store: Store, accounts: ServiceRecords, who: Principal, day: str | None = None
) -> list[MerchantDigest]:
    """``day``: the day diagnosed (default: each merchant's last settled day)."""
    if who.is_operator:
        merchants = sorted({c.merchant_id for c in store.list_campaigns()})
    else:
        assert who.merchant_id is not None
        merchants = [who.merchant_id]
    out = []
    for mid in merchants:
        scope = Scope.of(engine, store, accounts, who, mid if who.is_operator else None)
        facts, got = findings(scope, day)
        out.append(MerchantDigest(mid, facts.day, tuple(got)))
    return out


def render(digest: list[MerchantDigest], lang: str = "en") -> str:
    lines = []
    for d in digest:
        if lang == "zh":
            lines.append(f"商家 {d.merchant_id}，{d.day}：{len(d.findings)} 个问题")
        else:
            lines.append(f"Merchant {d.merchant_id}, {d.day}: {len(d.findings)} finding(s)")
        for f in d.findings:
            s = f.suggestion
            tip = ""
            if s is not None:
                title = s.title_zh if lang == "zh" else s.title_en
                tip = f" → {title} ({yuan(s.effect.gmv_micros_per_day)}/day, {s.effect.basis})"
            lines.append(f"  [{f.severity}] {f.text(lang)}{tip}")
    return "\n".join(lines)


__all__ = ["MerchantDigest", "daily_digest", "render"]
