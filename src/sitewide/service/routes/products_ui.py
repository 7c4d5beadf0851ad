"""Dashboard pages for the quality side: products with their eligibility, shops with their score, appeals
(file one; the operator resolves)."""

from __future__ import annotations

from typing import Literal

import plotly.graph_objects as go
from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from sitewide.domain.types import DomainError
from sitewide.service.present import eligibility_out, shop_score_out
from sitewide.service.routes.ui import FormUi, PageUi, Ui, fig_json, layout, paged, redirect
from sitewide.service.scope import visible_product
from sitewide.service.usecases import appeals as uc
from sitewide.service.usecases.catalogue import list_shops, visible_products

router = APIRouter(prefix="/ui", include_in_schema=False)
MAX_TEXT = 2000  # characters kept of an appeal's message or resolution
LIST_SHOPS = 200


PAGE_SIZE = 50
POOL_HISTORY = 50  # the newest changes of a product's pool membership shown on its page
SORTS = ("title", "price", "shop", "eligibility")
# how a factor's figure reads: a share in %, days/hours with one decimal, a rating with two
FACTOR_KINDS = {
    "logistics.on_time": "share",
    "service.disputes": "share",
    "returns.rate": "share",
    "reviews.rating": "rating",
    "logistics.delivery_days": "days",
    "service.response_hours": "hours",
}


def _shop_names(ui: Ui) -> dict[str, str]:
    return {s.id: s.name for s in list_shops(ui.store, ui.who)}


@router.get("/products", response_class=HTMLResponse, response_model=None)
def products_page(ui: PageUi, only: str = "all", q: str = "", sort: str = "title", page: int = 1) -> Response:
    """Products with their eligibility: search (title, id, category), sort, only the ineligible, in pages."""
    sort = sort if sort in SORTS else "title"
    needle = q.strip().lower()[:200]
    shops = _shop_names(ui)
    rows = []
    for p, owner in visible_products(ui.store, ui.who):
        if needle and needle not in f"{p.title} {p.id} {p.category}".lower():
            continue
        d = ui.engine.eligibility(p.id)
        if only == "ineligible" and d.eligible:
            continue
        failed = [r for r in d.reasons if not r.passed]
        rows.append({"p": p, "owner": owner, "eligible": d.eligible, "failed": failed})
    key = {
        "title": lambda r: r["p"].title.lower(),
        "price": lambda r: int(r["p"].price_micros),
        "shop": lambda r: (shops.get(r["p"].shop_id, r["p"].shop_id), r["p"].title.lower()),
        "eligibility": lambda r: (r["eligible"], r["p"].title.lower()),
    }[sort]
    rows.sort(key=key)
    pg = paged(rows, page, PAGE_SIZE)
    return ui.page("products.html", pg=pg, only=only, q=q, sort=sort, shop_names=shops)


@router.get("/products/{product_id}", response_class=HTMLResponse, response_model=None)
def product_page(ui: PageUi, product_id: str) -> Response:
    p, owner = visible_product(ui.store, ui.who, product_id)
    return ui.page(
        "product.html",
        p=p,
        owner=owner,
        elig=eligibility_out(ui.engine.eligibility(p.id)),
        appeals=uc.list_appeals(ui.accounts, ui.who, object_id=p.id),
        history=ui.accounts.pool_changes([p.id], limit=POOL_HISTORY),
    )


@router.get("/shops", response_class=HTMLResponse, response_model=None)
def shops_page(ui: PageUi) -> Response:
    """Shops with their experience score; the chart shows the points each factor loses against a perfect
    score (weight × (100 − sub-score)), the weakest factor first."""
    t = ui.t
    rows = []
    for s in list_shops(ui.store, ui.who)[:LIST_SHOPS]:
        sc = shop_score_out(s.id, ui.engine.shop_score(s.id))
        fig = go.Figure()
        scored = [f for f in sc.factors if f.used is not None]
        if scored:
            scored.sort(key=lambda f: f.weight * (100 - f.sub_score))
            fig.add_bar(
                x=[round(f.weight * (100 - f.sub_score), 1) for f in scored],
                y=[t.code("factor", f.name) for f in scored],
                orientation="h",
                marker_color="#c62828",
                text=[t("sub-score {s:.0f}/100, weight {w:.0%}", s=f.sub_score, w=f.weight) for f in scored],
            )
        title = (
            t("{shop}: score {score:.1f} — points lost by factor", shop=s.name, score=sc.score)
            if sc.score is not None
            else t("{shop}: not scored", shop=s.name)
        )
        layout(fig, title, x=t("points lost (of 100)"), empty=t("No service metrics yet."))
        fig.update_layout(height=240, margin={"l": 170})
        appeals = uc.list_appeals(ui.accounts, ui.who, object_id=s.id)
        rows.append({"s": s, "sc": sc, "fig": fig_json(fig), "appeals": appeals})
    return ui.page("shops.html", rows=rows, factor_kinds=FACTOR_KINDS, merchant_names=ui.merchant_names())


@router.post("/appeals", response_model=None)
def appeal(ui: FormUi, kind: str = Form(""), object_id: str = Form(""), message: str = Form("")) -> Response:
    if kind not in ("product", "shop") or not message.strip():
        return ui.error(422, ui.t("An appeal needs a message."))
    k: Literal["product", "shop"] = "product" if kind == "product" else "shop"
    uc.create_appeal(ui.store, ui.accounts, ui.who, k, object_id, message.strip()[:MAX_TEXT])
    return redirect(
        f"/ui/products/{object_id}?done=appealed" if k == "product" else "/ui/shops?done=appealed"
    )


@router.get("/appeals", response_class=HTMLResponse, response_model=None)
def appeals_page(ui: PageUi) -> Response:
    return ui.page(
        "appeals.html", rows=uc.list_appeals(ui.accounts, ui.who), merchant_names=ui.merchant_names()
    )


@router.post("/appeals/{appeal_id}/resolve", response_model=None)
def resolve(ui: FormUi, appeal_id: str, decision: str = Form(""), resolution: str = Form("")) -> Response:
    if not ui.who.is_operator:
        return ui.error(403, ui.t("Only the operator resolves appeals."))
    if decision not in ("accepted", "rejected") or not resolution.strip():
        return ui.error(422, ui.t("A resolution needs a decision and a text."))
    try:
        ui.accounts.resolve_appeal(appeal_id, decision, resolution.strip()[:MAX_TEXT])  # type: ignore[arg-type]
    except DomainError as exc:
        return ui.error(409, str(exc))
    return redirect("/ui/appeals?done=resolved")


__all__ = ["router"]
