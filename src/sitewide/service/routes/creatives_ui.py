"""Console page for a product's creatives: generate (offline or the configured LLM), verdicts with the rules
that rejected, banners, per-placement results of the rotation, pin. Same login, scoping and same-origin rule as
the rest of the dashboard (:mod:`.ui`); the work is done by :mod:`sitewide.service.usecases.creatives`."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from sitewide.creative.extract import Review
from sitewide.domain.creative import Lang
from sitewide.domain.types import DomainError, NotFound
from sitewide.i18n import Translator
from sitewide.service.present import product_creatives_out
from sitewide.service.routes.ui import FormUi, PageUi, Ui, redirect
from sitewide.service.scope import visible_product
from sitewide.service.usecases import creatives as uc

router = APIRouter(prefix="/ui", include_in_schema=False)

Words = Callable[[Translator, dict[str, str]], str]
# a rule's detail as the checks write it (sitewide.domain.creative, English) → its words in the page's language
DETAILS: tuple[tuple[re.Pattern[str], Words], ...] = (
    (
        re.compile(r"claim '(?P<w>.+?)' in '(?P<text>.*)'", re.S),
        lambda t, v: t("claim '{w}' in '{text}'", **v),
    ),
    (
        re.compile(
            r"'(?P<key>.+?)' is not supported by the reviews \((?P<pos>\d+)/(?P<n>\d+) positive mentions\)"
        ),
        lambda t, v: t("'{key}' is not supported by the reviews ({pos}/{n} positive mentions)", **v),
    ),
    (
        re.compile(r"'(?P<key>.+?)' is not supported by the reviews \(no mentions\)"),
        lambda t, v: t("'{key}' is not supported by the reviews (no mentions)", **v),
    ),
    (re.compile(r"'(?P<w>.+?)' in '(?P<text>.*)'", re.S), lambda t, v: t("'{w}' in '{text}'", **v)),
    (
        re.compile(r"title has (?P<n>\d+) characters, allowed (?P<lo>\d+)\.\.(?P<hi>\d+)"),
        lambda t, v: t("title has {n} characters, allowed {lo}..{hi}", **v),
    ),
    (
        re.compile(r"(?P<n>\d+) selling points, allowed 1\.\.(?P<hi>\d+)"),
        lambda t, v: t("{n} selling points, allowed 1..{hi}", **v),
    ),
    (
        re.compile(r"selling point has (?P<n>\d+) characters, limit (?P<hi>\d+): '(?P<text>.*)'", re.S),
        lambda t, v: t("selling point has {n} characters, limit {hi}: '{text}'", **v),
    ),
    (re.compile(r"title lacks '(?P<w>.+)'"), lambda t, v: t("title lacks '{w}'", **v)),
    (
        re.compile(r"quotes (?P<quoted>[\d.]+), catalogue price is (?P<price>[\d.]+)"),
        lambda t, v: t("quotes {quoted}, catalogue price is {price}", **v),
    ),
    (
        re.compile(r"claims (?P<pct>\d+)% off, catalogue discount is (?P<real>\d+)%"),
        lambda t, v: t("claims {pct}% off, catalogue discount is {real}%", **v),
    ),
    (
        re.compile(r"Chinese creative without Chinese text"),
        lambda t, v: t("Chinese creative without Chinese text"),
    ),
    (
        re.compile(r"English creative with (?P<n>\d+) Chinese characters"),
        lambda t, v: t("English creative with {n} Chinese characters", **v),
    ),
)


def rule_detail(t: Translator, detail: str) -> str:
    """A creative rule's detail in the page's language (one the checks do not write this way: as written)."""
    for pattern, words in DETAILS:
        m = pattern.fullmatch(detail)
        if m is not None:
            return words(t, m.groupdict())
    return detail


def _view(ui: Ui, product_id: str, error: str | None = None, status: int = 200) -> Response:
    p, _ = visible_product(ui.store, ui.who, product_id)
    view = product_creatives_out(uc.product_creatives(ui.engine, ui.desk, product_id))
    kit = ui.desk.kits.get(p.shop_id, p.brand)
    return ui.page(
        "creatives.html",
        status=status,
        p=p,
        v=view,
        kit=kit,
        error=error,
        detail=lambda d: rule_detail(ui.t, d),
    )


@router.get("/products/{product_id}/creatives", response_class=HTMLResponse, response_model=None)
def creatives_page(ui: PageUi, product_id: str) -> Response:
    return _view(ui, product_id)


@router.post("/products/{product_id}/creatives", response_class=HTMLResponse, response_model=None)
def generate_form(ui: FormUi, product_id: str, langs: str = Form("en"), reviews: str = Form("")) -> Response:
    """Generate from the catalogue facts and the pasted reviews (one per line), check, rotate."""
    p, _ = visible_product(ui.store, ui.who, product_id)
    try:
        ls = [Lang(x) for x in dict.fromkeys(langs.split(",")) if x]
        revs = [Review(line.strip()) for line in reviews.splitlines() if line.strip()][:2_000]
        uc.generate(ui.engine, ui.desk, p, ls or [Lang.EN], revs, banners=True)
    except NotFound:
        raise
    except (DomainError, ValueError) as exc:
        return _view(ui, product_id, error=str(exc), status=422)
    return redirect(f"/ui/products/{product_id}/creatives")


@router.post("/products/{product_id}/creatives/pin", response_class=HTMLResponse, response_model=None)
def pin_form(ui: FormUi, product_id: str, creative_id: str = Form("")) -> Response:
    visible_product(ui.store, ui.who, product_id)
    try:
        ui.engine.creatives.pin(product_id, creative_id or None)
    except NotFound as exc:
        return _view(ui, product_id, error=str(exc), status=404)
    return redirect(f"/ui/products/{product_id}/creatives")
