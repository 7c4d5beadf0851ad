"""Dashboard pages for the quality side: products with their eligibility, shops with their score, appeals
(file one; the operator resolves)."""

from __future__ import annotations

from typing import Literal

import plotly.graph_objects as go
from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from sitewide.domain.types import DomainError
from sitewide.service.present import eligibility_out, shop_score_out
from sitewide.service.routes.ui import FormUi, PageUi, fig_json, layout, redirect
from sitewide.service.scope import visible_product
from sitewide.service.usecases import appeals as uc
from sitewide.service.usecases.catalogue import list_shops, visible_products

router = APIRouter(prefix="/ui", include_in_schema=False)
MAX_TEXT = 2000  # characters kept of an appeal's message or resolution
LIST_PRODUCTS, LIST_SHOPS = 500, 200


@router.get("/products", response_class=HTMLResponse, response_model=None)
def products_page(ui: PageUi, only: str = "all") -> Response:
    rows = []
    for p, owner in visible_products(ui.store, ui.who)[:LIST_PRODUCTS]:
        d = ui.engine.eligibility(p.id)
        if only == "ineligible" and d.eligible:
            continue
        failed = [r for r in d.reasons if not r.passed]
        rows.append({"p": p, "owner": owner, "eligible": d.eligible, "failed": failed})
    return ui.page("products.html", rows=rows, only=only)


@router.get("/products/{product_id}", response_class=HTMLResponse, response_model=None)
def product_page(ui: PageUi, product_id: str) -> Response:
    p, owner = visible_product(ui.store, ui.who, product_id)
    return ui.page(
        "product.html",
        p=p,
        owner=owner,
        elig=eligibility_out(ui.engine.eligibility(p.id)),
        appeals=uc.list_appeals(ui.accounts, ui.who, object_id=p.id),
    )


@router.get("/shops", response_class=HTMLResponse, response_model=None)
def shops_page(ui: PageUi) -> Response:
    rows = []
    for s in list_shops(ui.store, ui.who)[:LIST_SHOPS]:
        sc = shop_score_out(s.id, ui.engine.shop_score(s.id))
        fig = go.Figure()
        if sc.factors:
            fig.add_bar(
                x=[f.contribution for f in sc.factors],
                y=[f.name for f in sc.factors],
                orientation="h",
                text=[f"{f.sub_score:.0f}/100 × {f.weight:.2f}" for f in sc.factors],
            )
        layout(fig, f"{s.name}: score {sc.score:.1f}" if sc.score is not None else f"{s.name}: not scored")
        fig.update_layout(height=240)
        appeals = uc.list_appeals(ui.accounts, ui.who, object_id=s.id)
        rows.append({"s": s, "sc": sc, "fig": fig_json(fig), "appeals": appeals})
    return ui.page("shops.html", rows=rows)


@router.post("/appeals", response_model=None)
def appeal(ui: FormUi, kind: str = Form(""), object_id: str = Form(""), message: str = Form("")) -> Response:
    if kind not in ("product", "shop") or not message.strip():
        return ui.error(422, "an appeal needs a kind and a message")
    k: Literal["product", "shop"] = "product" if kind == "product" else "shop"
    uc.create_appeal(ui.store, ui.accounts, ui.who, k, object_id, message.strip()[:MAX_TEXT])
    return redirect(f"/ui/products/{object_id}" if k == "product" else "/ui/shops")


@router.get("/appeals", response_class=HTMLResponse, response_model=None)
def appeals_page(ui: PageUi) -> Response:
    return ui.page("appeals.html", rows=uc.list_appeals(ui.accounts, ui.who))


@router.post("/appeals/{appeal_id}/resolve", response_model=None)
def resolve(ui: FormUi, appeal_id: str, decision: str = Form(""), resolution: str = Form("")) -> Response:
    if not ui.who.is_operator:
        return ui.error(403, "only the operator resolves appeals")
    if decision not in ("accepted", "rejected") or not resolution.strip():
        return ui.error(422, "a resolution needs a decision and a text")
    try:
        ui.accounts.resolve_appeal(appeal_id, decision, resolution.strip()[:MAX_TEXT])  # type: ignore[arg-type]
    except DomainError as exc:
        return ui.error(409, str(exc))
    return redirect("/ui/appeals")


__all__ = ["router"]
