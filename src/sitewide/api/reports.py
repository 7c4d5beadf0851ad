"""Bodies of the settlement, report, statement and auction-loss endpoints."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, computed_field
from pydantic.dataclasses import dataclass

from sitewide.api.schemas import Day, Strict
from sitewide.domain.reports import CampaignDay, CampaignStatement, CampaignTotals, StatementLeg
from sitewide.domain.settlement import CampaignSettlement


# settlement, reports, statements --------------------------------------------------------------------
class SettleIn(Strict):
    """``day``, or ``start_ms`` and ``end_ms`` together, or neither (= yesterday, the last ended UTC day).
    Only ended periods are booked; ``preview`` computes any period as of now and books nothing."""

    day: Day | None = None
    start_ms: Annotated[int, Field(ge=0, le=10**14)] | None = None
    end_ms: Annotated[int, Field(gt=0, le=10**14)] | None = None
    preview: bool = False


@dataclass(frozen=True)
class CampaignSettlementOut(CampaignSettlement):
    """A campaign's settlement as :class:`~sitewide.domain.settlement.CampaignSettlement` holds it (field names are
    the JSON keys), with its ``roi``."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def roi(self) -> float | None:
        return super().roi

    @classmethod
    def of(cls, c: CampaignSettlement) -> CampaignSettlementOut:
        return cls(**{f.name: getattr(c, f.name) for f in fields(c)})


class SettleOut(BaseModel):
    period: str
    already_settled: bool
    provisional: bool = Field(False, description="a preview: computed as of now, nothing booked")
    campaigns: list[CampaignSettlementOut]
    transactions: list[str]


class ReportRow(BaseModel):
    """One group of a report. Rates are ``None`` when their denominator is 0."""

    key: str = Field(description="the day, campaign id or product id of the group")
    impressions: int
    clicks: int
    orders: int
    spend_micros: int
    gmv_micros: int
    compensation_micros: int
    ctr: float | None
    cvr: float | None
    cpc_micros: int | None
    roi: float | None
    acos: float | None


class ReportOut(BaseModel):
    group_by: Literal["day", "campaign", "product"]
    rows: list[ReportRow]
    total: ReportRow
    offset: int
    limit: int
    total_rows: int


class CampaignReportOut(BaseModel):
    """Per settled day: impressions served, clicks, orders, spend, GMV (net), ROI and the compensation of the
    guarantee windows ending that day, as last settled; and their total."""

    model_config = ConfigDict(from_attributes=True)

    campaign_id: str
    target_roi: Decimal
    daily_budget_micros: int
    days: list[CampaignDay]
    total: CampaignTotals


class CampaignStatementOut(RootModel[CampaignStatement]):
    """The numbers settlement used for one campaign (``sitewide.domain.reports.CampaignStatement``, served
    as it is): per-day figures with the budget and target of the terms in force that day, every terms version,
    the guarantee windows with the contract they used, and the ledger legs booked for the campaign."""


class StatementOut(BaseModel):
    """One settled period of one merchant: what it was charged and what it got back, and the legs on its
    accounts (``sitewide.domain.reports.StatementLeg``, as in a campaign's statement)."""

    merchant_id: str
    period: str
    charged_micros: int
    compensation_micros: int
    net_micros: int
    transactions: list[str]
    entries: list[StatementLeg]


class LossReasonOut(BaseModel):
    reason: str
    count: int


class LossByProductOut(BaseModel):
    product_id: str
    reason: str
    count: int


class LossSampleOut(BaseModel):
    ts_ms: int
    request_id: str
    product_id: str
    reason: str
    rank: int


class AuctionLossesOut(BaseModel):
    """Why this campaign's products lost auctions: counts over all requests, and a sample of requests."""

    campaign_id: str
    by_reason: list[LossReasonOut]
    by_product: list[LossByProductOut]
    samples: list[LossSampleOut]
