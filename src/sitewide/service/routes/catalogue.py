from __future__ import annotations

from fastapi import APIRouter

from sitewide.api.schemas import CatalogueIdsOut, CatalogueIn, CatalogueOut
from sitewide.service.deps import AccountsDep, EngineDep, OperatorDep, StoreDep, VersionDep, errors
from sitewide.service.usecases import catalogue as uc

router = APIRouter(tags=["catalogue"], responses=errors(401, 403))


@router.post("/catalogue", response_model=CatalogueOut, responses=errors(422))
def import_catalogue(
    body: CatalogueIn,
    engine: EngineDep,
    store: StoreDep,
    accounts: AccountsDep,
    version: VersionDep,
    _: OperatorDep,
) -> CatalogueOut:
    """Operator only: bulk upsert shops and products (merchants named by shops are registered), then rebuild
    the serving index."""
    v = uc.import_catalogue(engine, store, accounts, version, body)
    return CatalogueOut(shops=len(body.shops), products=len(body.products), catalogue_version=v)


@router.get("/catalogue/ids", response_model=CatalogueIdsOut)
def catalogue_ids(engine: EngineDep, version: VersionDep, _: OperatorDep) -> CatalogueIdsOut:
    """Operator only: the order of products that ``/serve/batch`` indexes into, and of campaigns for
    ``campaign_idx``."""
    return CatalogueIdsOut(
        catalogue_version=version.value,
        product_ids=list(engine.catalogue_ids()),
        campaign_ids=list(engine.campaign_ids()),
    )
