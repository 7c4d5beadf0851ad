"""The typed client against the real app: every answer is the API's own model, bodies are built from the same
models, and an error is an ``ApiError`` with the status and the service's message."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal

import pytest
from clocks import ManualClock
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sitewide.api.experiments import ArmIn, ExperimentIn
from sitewide.api.schemas import CampaignOut, Page, ProductOut
from sitewide.client import ApiError, SitewideClient
from sitewide.domain.eligibility import ProductSignals
from sitewide.domain.money import Micros
from sitewide.domain.reports import CampaignStatement
from sitewide.domain.time import day_bounds
from sitewide.domain.types import Event, EventKind

DAY = "2026-01-05"
T0 = day_bounds(DAY)[0] + 3_600_000


def client(app: FastAPI, key: str | None) -> SitewideClient:
    return SitewideClient("http://testserver", api_key=key, http=TestClient(app))


def test_merchant_journey_through_the_typed_client(
    app: FastAPI, clock: ManualClock, new_key: Callable[[str], str]
) -> None:
    op = client(app, new_key("operator"))
    assert op.health().status == "ok"
    assert op.me().role == "operator"
    made = op.create_merchant("m9", "Nine")
    assert made.merchant.id == "m9" and made.api_key
    m9 = client(app, made.api_key)
    assert m9.me().merchant_id == "m9"
    shop = m9.create_shop("s9", "Nine's shop")
    assert (shop.id, shop.merchant_id) == ("s9", "m9")
    imported = m9.import_products_csv("id,shop_id,title,category,price\nq1,s9,usb stick 64GB,usb,12.50\n")
    assert imported.products == 1 and imported.catalogue_version >= 2
    page = m9.list_products()
    assert isinstance(page, Page) and [p.id for p in page.items] == ["q1"]
    assert isinstance(page.items[0], ProductOut) and page.items[0].price_micros == 12_500_000
    assert (
        op.put_product_signals([ProductSignals("q1", "usb", "s9", 12_500_000, 4.8, 200, 0.01, 90, 50)]).stored
        == 1
    )
    assert m9.eligibility("q1").product_id == "q1"

    c = m9.create_campaign(None, "usb push", ["q1"], "3.00", 5_000_000)
    assert isinstance(c, CampaignOut) and c.target_roi == Decimal("3.00") and c.merchant_id == "m9"
    assert m9.update_campaign(c.id, name="usb push 2").name == "usb push 2"
    assert m9.pause_campaign(c.id).status == "paused"
    assert m9.resume_campaign(c.id).status == "active"
    assert [x.id for x in m9.list_campaigns().items] == [c.id]

    served = op.serve("r1", "u1", "usb stick", ts_ms=T0)
    assert served.request_id == "r1" and all(s.position >= 1 for s in served.slots)
    clicks = [
        Event(f"k{i}", EventKind.CLICK, T0 + i, f"u{i}", "q1", campaign_id=c.id, price_micros=Micros(200_000))
        for i in range(5)
    ]
    order = Event(
        "o1", EventKind.ORDER, T0 + 100, "u1", "q1", order_value_micros=Micros(1_500_000), click_id="k1"
    )
    receipt = op.post_events([*clicks, order])
    assert (receipt.inserted, receipt.duplicates) == (6, 0)
    assert op.post_events(clicks[:1]).duplicates == 1
    clock.after(day_bounds(DAY)[1])
    settled = op.settle(day=DAY)
    (row,) = [r for r in settled.campaigns if r.campaign_id == c.id]
    assert (row.spend_micros, row.gmv_micros) == (1_000_000, 1_500_000)

    rep = m9.campaign_report(c.id)
    assert rep.total.spend_micros == 1_000_000 and rep.target_roi == Decimal("3.00")
    assert [d.day for d in rep.days] == [DAY]
    assert m9.report("campaign").total.gmv_micros == 1_500_000
    st = m9.campaign_statement(c.id, DAY)
    assert isinstance(st, CampaignStatement) and [d.day for d in st.days] == [DAY]
    assert (st.days[0].clicks, st.days[0].spend_micros, st.days[0].gmv_micros) == (5, 1_000_000, 1_500_000)
    assert st.merchant_id == "m9" and st.contract and st.terms[0].version >= 1
    assert sum(leg.amount_micros for leg in st.ledger) == 0 and st.ledger  # double entry
    stm = op.statements("m9")
    assert stm.total >= 1 and all(s.merchant_id == "m9" for s in stm.items)
    assert sum(op.balances().values()) == 0
    assert m9.auction_losses(c.id).campaign_id == c.id
    assert m9.forecast("3.00", 5_000_000, c.id).target_roi == pytest.approx(3.0)

    a = m9.appeal("product", "q1", "the rating is wrong")
    assert a.status == "open" and a.merchant_id == "m9"
    assert op.resolve_appeal(a.id, "accepted", "fixed").status == "accepted"
    assert [x.id for x in m9.list_appeals().items] == [a.id]


def test_operator_keys_and_experiments_through_the_typed_client(
    app: FastAPI, new_key: Callable[[str], str]
) -> None:
    op = client(app, new_key("operator"))
    fresh = op.create_operator_key("ci")
    prefix = next(k.prefix for k in op.operator_keys() if k.label == "ci")
    assert prefix in fresh
    rotated = op.rotate_operator_key(prefix)
    assert client(app, rotated).me().role == "operator"
    with pytest.raises(ApiError) as gone:
        client(app, fresh).me()
    assert gone.value.status == 401
    spare = op.create_operator_key("spare")
    spare_prefix = next(k.prefix for k in op.operator_keys() if k.label == "spare")
    assert op.revoke_operator_key(spare_prefix).revoked == spare_prefix
    assert [k.revoked for k in op.operator_keys() if k.label == "spare"] == [True]
    assert {"create", "rotate", "revoke"} <= {a.action for a in op.operator_key_audit()}
    assert spare

    made = op.create_merchant("m8", "Eight")
    m8 = client(app, made.api_key)
    m8.create_shop("s8", "Eight's shop")
    m8.import_products_csv("id,shop_id,title,category,price\nq8,s8,usb hub 4 ports,usb,20.00\n")
    c = m8.create_campaign(None, "hub push", ["q8"], "3.00", 5_000_000)
    arms = [ArmIn(name="A"), ArmIn(name="B", target_roi=Decimal("4.00"))]
    exp = m8.create_experiment(ExperimentIn(name="roi test", kind="campaign", campaign_id=c.id, arms=arms))
    assert exp.status == "running" and [a.name for a in exp.arms] == ["A", "B"]
    assert [e.id for e in m8.list_experiments(status="running").items] == [exp.id]
    assert m8.get_experiment(exp.id).campaign_id == c.id
    assert [a.arm for a in m8.experiment_results(exp.id).arms] == ["A", "B"]
    assert exp.id in {r.id for r in op.check_experiments()}
    with pytest.raises(ApiError) as early:
        m8.apply_experiment(exp.id)
    assert early.value.status == 409
    stopped = m8.stop_experiment(exp.id, winner="B", reason="enough")
    assert (stopped.status, stopped.winner) == ("stopped", "B")
    assert m8.apply_experiment(exp.id).applied


def test_errors_are_api_errors_with_the_status_and_message(
    app: FastAPI, new_key: Callable[[str], str]
) -> None:
    op = client(app, new_key("operator"))
    with pytest.raises(ApiError) as missing:
        op.get_campaign("c-nope")
    assert missing.value.status == 404 and "c-nope" in missing.value.detail
    with pytest.raises(ApiError) as unauth:
        client(app, None).me()
    assert unauth.value.status == 401


def test_the_client_imports_neither_fastapi_nor_the_engine() -> None:
    """The client shares the API's models (``sitewide.api``) without pulling in the server side."""
    code = (
        "import sys, sitewide.client; "
        "print(sorted(m for m in sys.modules if m == 'fastapi' or m.startswith(('sitewide.engine', "
        "'sitewide.service', 'sitewide.storage'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
