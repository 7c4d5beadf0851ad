"""Creatives and brand kits as JSON-ready dicts (what the Store keeps), and back. Pure."""

from __future__ import annotations

from typing import Any

from sitewide.domain.creative import Angle, BrandKit, CheckResult, CopyDraft, Creative, Lang, Violation


def kit_to_dict(k: BrandKit) -> dict[str, object]:
    return {
        "shop_id": k.shop_id,
        "version": k.version,
        "tone_words": list(k.tone_words),
        "banned_words": list(k.banned_words),
        "banned_claims": list(k.banned_claims),
        "required_terms": list(k.required_terms),
        "colours": list(k.colours),
        "logo_text": k.logo_text,
        "fonts": list(k.fonts),
    }


def kit_from_dict(d: dict[str, Any]) -> BrandKit:
    return BrandKit(
        shop_id=str(d["shop_id"]),
        version=int(d["version"]),
        **{
            f: tuple(d[f])
            for f in ("tone_words", "banned_words", "banned_claims", "required_terms", "colours", "fonts")
        },
        logo_text=str(d.get("logo_text", "")),
    )


def creative_to_dict(c: Creative) -> dict[str, object]:
    d = c.draft
    return {
        "id": c.id,
        "product_id": c.product_id,
        "shop_id": c.shop_id,
        "kit_version": c.kit_version,
        "draft": {
            "title": d.title,
            "points": list(d.points),
            "lang": d.lang.value,
            "angle": d.angle.value,
            "source": d.source,
        },  # fmt: skip
        "check": {"passed": c.check.passed, "violations": [[v.rule, v.detail] for v in c.check.violations]},
        "banner": c.banner,
    }


def creative_from_dict(x: dict[str, Any]) -> Creative:
    d, chk = x["draft"], x["check"]
    draft = CopyDraft(
        str(d["title"]), tuple(d["points"]), Lang(d["lang"]), Angle(d["angle"]), str(d["source"])
    )
    check = CheckResult(bool(chk["passed"]), tuple(Violation(str(r), str(t)) for r, t in chk["violations"]))
    return Creative(str(x["id"]), str(x["product_id"]), str(x["shop_id"]), int(x["kit_version"]), draft, check,
                    x.get("banner"))  # fmt: skip


__all__ = ["creative_from_dict", "creative_to_dict", "kit_from_dict", "kit_to_dict"]
