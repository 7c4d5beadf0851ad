"""Console page for a product's creatives: generate (offline or the configured LLM), verdicts with the rules
that rejected, banners, per-placement results of the rotation, pin. Same login, scoping and same-origin rule as
the rest of the dashboard (:mod:`.dashboard`); the work is done by :mod:`sitewide.service.creatives`."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sitewide.domain.creative import Lang
from sitewide.domain.types import DomainError, NotFound
from sitewide.service import creatives as uc
from sitewide.service.routes.creatives import product_view
from sitewide.service.routes.dashboard import _engine, _page, _same_origin, _to_login, _who
from sitewide.service.scope import visible_product

router = APIRouter(prefix="/ui", include_in_schema=False)


def _desk(request: Request) -> uc.CreativeDesk:
    desk: uc.CreativeDesk = request.app.state.creatives
    return desk


def _view(request: Request, product_id: str, error: str | None = None, status: int = 200) -> Response:
    who = _who(request)
    if who is None:
        return _to_login()
    engine = _engine(request)
    try:
        p, _ = visible_product(engine, who, product_id)
    except NotFound:
        return _page(request, "error.html", who, status=404, message=f"product {product_id} not found")
    view = product_view(engine, _desk(request), product_id)
    kit = _desk(request).kits.get(p.shop_id, p.brand)
    return _page(request, "creatives.html", who, status=status, p=p, v=view, kit=kit, error=error)


@router.get("/products/{product_id}/creatives", response_class=HTMLResponse, response_model=None)
def creatives_page(request: Request, product_id: str) -> Response:
    return _view(request, product_id)


@router.post("/products/{product_id}/creatives", response_class=HTMLResponse, response_model=None)
def generate_form(
    request: Request, product_id: str, langs: str = Form("en"), reviews: str = Form("")
) -> Response:
    """Generate from the catalogue facts and the pasted reviews (one per line), check, rotate."""
    who = _who(request)
    if who is None or not _same_origin(request):
        return _to_login()
    engine = _engine(request)
    try:
        p, _ = visible_product(engine, who, product_id)
        ls = [Lang(x) for x in dict.fromkeys(langs.split(",")) if x]
        from sitewide.creative.extract import Review

        revs = [Review(line.strip()) for line in reviews.splitlines() if line.strip()][:2_000]
        uc.generate(engine, _desk(request), p, ls or [Lang.EN], revs, banners=True)
    except NotFound:
        return _page(request, "error.html", who, status=404, message=f"product {product_id} not found")
    except (DomainError, ValueError) as exc:
        return _view(request, product_id, error=str(exc), status=422)
    return RedirectResponse(f"/ui/products/{product_id}/creatives", status_code=303)


@router.post("/products/{product_id}/creatives/pin", response_class=HTMLResponse, response_model=None)
def pin_form(request: Request, product_id: str, creative_id: str = Form("")) -> Response:
    who = _who(request)
    if who is None or not _same_origin(request):
        return _to_login()
    engine = _engine(request)
    try:
        visible_product(engine, who, product_id)
        engine.creatives.pin(product_id, creative_id or None)
    except NotFound as exc:
        return _view(request, product_id, error=str(exc), status=404)
    return RedirectResponse(f"/ui/products/{product_id}/creatives", status_code=303)
