"""The ROI guarantee: a small, versioned, machine-readable contract per campaign, and its evaluation.

A contract says over which **window** the promise is judged (``window_days`` days from ``start_day``, once or
repeating), what **triggers** a payout (delivered ROI < ``trigger_roi_factor`` × target with at least
``min_orders`` attributed orders), how much is **paid** (``spend − GMV ÷ target``, floored to micros, capped
at ``cap_ratio_of_spend`` × spend and at ``cap_micros``) and in what **form** (ad credit). A window is
judged once ``as_of ≥ window end + observation_lag_ms`` (so late orders inside the attribution window count).

Compensation is booked as the difference between what is due now and what was already booked for the
window, so it is never paid twice. If data that arrives after a window was judged raises its ROI, the excess
is booked back as an explicit reversal (a new, negative entry on the ad-credit account) — the clawback that
keeps settlement convergent; with an observation lag ≥ the attribution window it only happens for events
delivered later than their timestamps.

**On incremental ROI** (``basis="incremental_roi"``, optional): the promise is on what the ads *added* — the
window's incremental GMV from the campaign's ghost-bid holdout (``sitewide.domain.incrementality``) ÷ its spend
— instead of all the GMV its clicks were credited with. It is judged with its interval (``INCREMENTAL_LEVEL``,
two-sided): it pays only when the whole interval lies below ``trigger_roi_factor`` × target (the miss is
established), and then the smallest shortfall the evidence allows, ``spend − incremental GMV high ÷ target``
(capped as above). An interval that reaches the trigger, or no estimate (no ghost or exposed wins yet), pays
nothing, and the judgement says why. The campaign needs a holdout share > 0 for such a contract to mean
anything; the reserve still provisions on the credited ROI.

``to_dict``/``from_dict`` give the JSON form (``schema: sitewide.roi_guarantee``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TYPE_CHECKING

from sitewide.domain.money import HasRoi
from sitewide.domain.time import DAY_MS, day_index, day_str
from sitewide.domain.types import Estimate, ValidationError

if TYPE_CHECKING:
    from sitewide.domain.settlement import Figures

SCHEMA = "sitewide.roi_guarantee"
SCHEMA_VERSION = 1
BASES = ("roi", "incremental_roi")  # what the promise is on: credited GMV ÷ spend, or incremental GMV ÷ spend
INCREMENTAL_LEVEL = 0.9  # the incremental ROI interval a window is judged with (two-sided)


@dataclass(frozen=True, slots=True)
class GuaranteeContract:
    """``campaign_id`` None = the platform default. ``target_roi`` None = the campaign's own target.
    ``start_day`` None = the campaign's creation day (UTC) for a one-off window; repeating windows without a
    start day tile the calendar from 1970-01-01 (``align="calendar"``) or from the campaign's creation day
    (``align="campaign"``: every campaign's first window is a whole one)."""

    campaign_id: str | None = None
    version: int = 1
    target_roi: Decimal | None = None
    start_day: str | None = None
    window_days: int = 1
    repeat: bool = True
    trigger_roi_factor: Decimal = Decimal("1")
    min_orders: int = 0
    cap_ratio_of_spend: Decimal = Decimal("1")
    cap_micros: int | None = None
    observation_lag_ms: int = 0
    credit_form: str = "ad_credit"
    align: str = "calendar"
    basis: str = "roi"  # BASES: "incremental_roi" judges the window's ghost-bid holdout estimate

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValidationError("guarantee version must be ≥ 1")
        if self.target_roi is not None and self.target_roi <= 0:
            raise ValidationError("guarantee target_roi must be > 0")
        if not 1 <= self.window_days <= 366:
            raise ValidationError("guarantee window_days must lie in [1, 366]")
        if not 0 < self.trigger_roi_factor <= 1:
            raise ValidationError("trigger_roi_factor must lie in (0, 1]")
        if self.min_orders < 0:
            raise ValidationError("min_orders must be ≥ 0")
        if not 0 <= self.cap_ratio_of_spend <= 1:
            raise ValidationError("cap_ratio_of_spend must lie in [0, 1]")
        if self.cap_micros is not None and self.cap_micros < 0:
            raise ValidationError("cap_micros must be ≥ 0")
        if not 0 <= self.observation_lag_ms <= 62 * DAY_MS:
            raise ValidationError("observation_lag_ms must lie in [0, 62 days]")
        if self.align not in ("calendar", "campaign"):
            raise ValidationError("align must be 'calendar' or 'campaign'")
        if self.basis not in BASES:
            raise ValidationError(f"basis must be one of {', '.join(BASES)}, got {self.basis!r}")
        if self.credit_form != "ad_credit":
            raise ValidationError("credit_form: only 'ad_credit' is supported")
        if self.start_day is not None:
            day_index(self.start_day)

    # the JSON form ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, object]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "campaign_id": self.campaign_id,
            "version": self.version,
            "target_roi": None if self.target_roi is None else str(self.target_roi),
            "window": {
                "start_day": self.start_day,
                "days": self.window_days,
                "repeat": self.repeat,
                "align": self.align,
            },
            "trigger": {
                "roi_below_factor_of_target": str(self.trigger_roi_factor),
                "min_orders": self.min_orders,
                "basis": self.basis,
            },
            "payout": {
                "formula": "spend - gmv / target"
                if self.basis == "roi"
                else "spend - incremental_gmv_high / target",
                "cap_ratio_of_spend": str(self.cap_ratio_of_spend),
                "cap_micros": self.cap_micros,
            },
            "observation_lag_ms": self.observation_lag_ms,
            "credit_form": self.credit_form,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> GuaranteeContract:
        if d.get("schema") != SCHEMA or d.get("schema_version") != SCHEMA_VERSION:
            raise ValidationError(f"not a {SCHEMA} v{SCHEMA_VERSION} document")
        try:
            w = d["window"]
            t = d["trigger"]
            p = d["payout"]
            assert isinstance(w, Mapping) and isinstance(t, Mapping) and isinstance(p, Mapping)
            tr = d.get("target_roi")
            cap = p.get("cap_micros")
            cid = d.get("campaign_id")
            sd = w.get("start_day")
            return cls(
                campaign_id=None if cid is None else str(cid),
                version=_int(d["version"]),
                target_roi=None if tr is None else Decimal(str(tr)),
                start_day=None if sd is None else str(sd),
                window_days=_int(w["days"]),
                repeat=bool(w["repeat"]),
                trigger_roi_factor=Decimal(str(t["roi_below_factor_of_target"])),
                min_orders=_int(t["min_orders"]),
                cap_ratio_of_spend=Decimal(str(p["cap_ratio_of_spend"])),
                cap_micros=None if cap is None else _int(cap),
                observation_lag_ms=_int(d["observation_lag_ms"]),
                credit_form=str(d["credit_form"]),
                align=str(w.get("align", "calendar")),
                basis=str(t.get("basis", "roi")),
            )
        except (KeyError, AssertionError, InvalidOperation, TypeError) as exc:
            raise ValidationError(f"malformed guarantee contract: {exc!r}") from exc

    def for_campaign(self, campaign_id: str, version: int) -> GuaranteeContract:
        return replace(self, campaign_id=campaign_id, version=version)

    # windows ----------------------------------------------------------------------------------------
    def window_of(self, day: int, created_day: int) -> tuple[int, int] | None:
        """``(first day index, number of days)`` of the window holding ``day``, or None if not covered."""
        if self.start_day is not None:
            start = day_index(self.start_day)
        else:  # a one-off window starts on the creation day; repeating ones tile the calendar from 1970
            start = 0 if self.repeat and self.align == "calendar" else created_day
        if day < start:
            return None
        k = (day - start) // self.window_days
        if k > 0 and not self.repeat:
            return None
        return start + k * self.window_days, self.window_days

    def matures_at_ms(self, window: tuple[int, int]) -> int:
        return (window[0] + window[1]) * DAY_MS + self.observation_lag_ms


def _int(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an integer, got {v!r}")
    return v


# the classic daily rule: every day is a window, paid when ROI < target, at day close
DAILY_CONTRACT = GuaranteeContract()
# the example: first 3 days, ROI < 0.8 × target with ≥ 10 orders, judged after the 7-day window
FIRST_DAYS_CONTRACT = GuaranteeContract(
    window_days=3,
    repeat=False,
    trigger_roi_factor=Decimal("0.8"),
    min_orders=10,
    observation_lag_ms=7 * DAY_MS,
)


# the platform default, after the published rules (DESIGN.md, "Published compensation rules"): judged over
# 7-day windows from the campaign's start, paid when ROI < target ÷ 1.2 (0.8333 × target) with at least 30
# attributed orders in the window (Baidu's low-threshold mode asks ≥ 30 conversions in total), capped at half
# the window's spend, judged 3 days after the window closes so that late orders count
PLATFORM_CONTRACT = GuaranteeContract(
    window_days=7,
    repeat=True,
    align="campaign",
    trigger_roi_factor=Decimal("0.8333"),
    min_orders=30,
    cap_ratio_of_spend=Decimal("0.5"),
    observation_lag_ms=3 * DAY_MS,
)


def window_key(window: tuple[int, int]) -> str:
    return f"{day_str(window[0])}+{window[1]}d"


@dataclass(frozen=True, slots=True)
class WindowTotals(HasRoi):
    """A guarantee window's figures, so far or in full (integer micros): charged spend, realised GMV net of
    refunds and attributed orders. A window is judged on them (:func:`payout_due`), the reserve provisions
    against them while it runs (:mod:`sitewide.domain.reserve`) and the next day's bidder is aimed from them
    (:func:`sitewide.domain.value_calibration.window_aim`)."""

    spend_micros: int = 0
    gmv_micros: int = 0
    orders: int = 0

    def __post_init__(self) -> None:
        if self.spend_micros < 0 or self.orders < 0:
            raise ValidationError("window totals: spend and orders must be ≥ 0")

    @classmethod
    def of(cls, figures: Iterable[Figures]) -> WindowTotals:
        """The sum of a window's settled days' figures."""
        spend = gmv = orders = 0
        for f in figures:
            spend += f.spend_micros
            gmv += f.gmv_micros
            orders += f.orders
        return cls(spend, gmv, orders)


@dataclass(frozen=True, slots=True)
class GuaranteeEvaluation(HasRoi):
    """One judgement of one window: the numbers used and the amount due (total, not a delta)."""

    campaign_id: str
    merchant_id: str
    window: str  # window_key
    first_day: str
    days: int
    contract_version: int
    contract: str  # the JSON the judgement used
    target_roi: Decimal
    spend_micros: int
    gmv_micros: int
    orders: int
    triggered: bool
    due_micros: int
    reason: str


def payout_due(
    contract: GuaranteeContract, target: Decimal, spend: int, gmv: int, orders: int
) -> tuple[bool, int, str]:
    """``(triggered, due micros, reason)`` for a window's totals under ``contract``."""
    if spend <= 0:
        return False, 0, "no spend"
    t = Fraction(target)
    if orders < contract.min_orders:
        return False, 0, f"{orders} orders < {contract.min_orders} required"
    threshold = Fraction(contract.trigger_roi_factor) * t
    if Fraction(gmv) >= threshold * spend:
        return (
            False,
            0,
            f"ROI {gmv / spend:.4f} ≥ {float(threshold):.4f} (= {contract.trigger_roi_factor} × {target})",
        )
    owed = spend - Fraction(gmv) / t
    due, cap = _capped(contract, spend, owed)
    return (
        True,
        due,
        f"ROI {gmv / spend:.4f} < {float(threshold):.4f}: spend {spend} − GMV {gmv} ÷ {target} "
        f"= {int(owed)}, cap {cap}",
    )


def _capped(contract: GuaranteeContract, spend: int, owed: Fraction) -> tuple[int, int]:
    """(due, cap): what is owed, floored to micros, at least 0, at most the contract's caps."""
    cap = (spend * Fraction(contract.cap_ratio_of_spend)).__floor__()
    if contract.cap_micros is not None:
        cap = min(cap, contract.cap_micros)
    return max(0, min(int(owed), cap)), cap


def incremental_payout_due(
    contract: GuaranteeContract, target: Decimal, spend: int, orders: int, roi: Estimate[float] | None
) -> tuple[bool, int, str]:
    """``(triggered, due micros, reason)`` of a window under a contract on incremental ROI, from the window's
    incremental ROI estimate ``roi`` (at ``INCREMENTAL_LEVEL``; None: not estimable): it pays only when the
    interval's high end is below the trigger, ``spend − high × spend ÷ target`` (see the module docstring)."""
    if spend <= 0:
        return False, 0, "no spend"
    if orders < contract.min_orders:
        return False, 0, f"{orders} orders < {contract.min_orders} required"
    threshold = Fraction(contract.trigger_roi_factor) * Fraction(target)
    level = f"{INCREMENTAL_LEVEL:.0%}"
    if roi is None or roi.high is None:
        return False, 0, "incremental ROI not estimable yet (no ghost or no exposed win in the window)"
    said = f"incremental ROI {roi.value:.4f} ({level} interval {roi.low:.4f} … {roi.high:.4f})"
    if Fraction(roi.high) >= threshold:
        why = "meets" if Fraction(roi.value) >= threshold else "cannot be told from"
        return False, 0, f"{said} {why} {float(threshold):.4f} (= {contract.trigger_roi_factor} × {target})"
    owed = spend - Fraction(roi.high) * spend / Fraction(target)
    due, cap = _capped(contract, spend, owed)
    return (
        True,
        due,
        f"{said} < {float(threshold):.4f}: spend {spend} − its high end × spend ÷ {target} = {int(owed)}, cap {cap}",
    )
