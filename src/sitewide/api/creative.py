"""Request and response bodies of the creative endpoints (kept apart from ``schemas.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from sitewide.api import fields_of
from sitewide.domain.creative import BrandKit, Creative
from sitewide.domain.creative_bandit import ArmStats

Text = Annotated[str, Field(min_length=1, max_length=80)]


class BrandKitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tone_words: Annotated[list[Text], Field(max_length=10)] = []
    banned_words: Annotated[list[Text], Field(max_length=200)] = []
    banned_claims: Annotated[list[Text], Field(max_length=200)] = []
    required_terms: Annotated[list[Text], Field(max_length=10)] = []
    colours: Annotated[
        list[Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]], Field(min_length=2, max_length=6)
    ] = [
        "#1f3a5f",
        "#ffffff",
    ]
    logo_text: Annotated[str, Field(max_length=40)] = ""
    fonts: Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=5)] = []

    def to_kit(self, shop_id: str) -> BrandKit:
        return BrandKit(
            shop_id,
            1,
            tuple(self.tone_words),
            tuple(self.banned_words),
            tuple(self.banned_claims),
            tuple(self.required_terms),
            tuple(self.colours),
            self.logo_text,
            tuple(self.fonts),
        )


class BrandKitOut(BrandKitIn):
    shop_id: str
    version: int

    @classmethod
    def of(cls, k: BrandKit) -> BrandKitOut:
        return cls(
            shop_id=k.shop_id,
            version=k.version,
            tone_words=list(k.tone_words),
            banned_words=list(k.banned_words),
            banned_claims=list(k.banned_claims),
            required_terms=list(k.required_terms),
            colours=list(k.colours),
            logo_text=k.logo_text,
            fonts=list(k.fonts),
        )


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, Field(min_length=1, max_length=5_000)]
    rating: Annotated[int | None, Field(ge=1, le=5)] = None
    title: Annotated[str, Field(max_length=200)] = ""


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    langs: Annotated[list[Literal["en", "zh"]], Field(min_length=1, max_length=2)] = ["en"]
    reviews: Annotated[list[ReviewIn], Field(max_length=2_000)] = []
    attributes: Annotated[list[tuple[Text, Annotated[str, Field(max_length=200)]]], Field(max_length=50)] = []
    list_price_micros: Annotated[int | None, Field(ge=0, le=10**15)] = None
    banners: bool = False


class ViolationOut(BaseModel):
    rule: str
    detail: str


class StatsOut(BaseModel):
    placement: str
    impressions: int
    clicks: int
    orders: int
    ctr: float
    cvr: float
    p_best: float


class CreativeOut(BaseModel):
    id: str
    product_id: str
    lang: str
    angle: str
    source: str
    title: str
    points: list[str]
    kit_version: int
    passed: bool
    violations: list[ViolationOut]
    banner_url: str | None = None
    pinned: bool = False
    stats: list[StatsOut] = []

    @classmethod
    def of(cls, c: Creative, stats: list[ArmStats] = (), pinned: str | None = None) -> CreativeOut:  # type: ignore[assignment]
        return cls(
            id=c.id,
            product_id=c.product_id,
            lang=c.draft.lang.value,
            angle=c.draft.angle.value,
            source=c.draft.source,
            title=c.draft.title,
            points=list(c.draft.points),
            kit_version=c.kit_version,
            passed=c.check.passed,
            violations=[ViolationOut(rule=v.rule, detail=v.detail) for v in c.check.violations],
            banner_url=f"/creatives/banners/{c.banner}" if c.banner else None,
            pinned=pinned == c.id,
            stats=[fields_of(StatsOut, s) for s in stats if s.creative_id == c.id],
        )


class ProductCreativesOut(BaseModel):
    product_id: str
    pinned: str | None
    approved: int
    rejected: int
    rejected_by_rule: dict[str, int]
    review_aspects: list[tuple[str, int, int]] = []  # (aspect, positive, negative) of the last generation
    creatives: list[CreativeOut]


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    creative_id: Annotated[str | None, Field(max_length=40)]


class SlotCreativeOut(BaseModel):
    """The creative shown on a promoted slot (``POST /serve``)."""

    id: str
    title: str
    points: list[str]
    lang: str
    banner_url: str | None = None
