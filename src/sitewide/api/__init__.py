"""The HTTP API's request and response bodies (pydantic), shared by the service (``sitewide.service``) and the
typed client (``sitewide.client``). Imports pydantic and the domain only: neither FastAPI nor the engine."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def fields_of(model: type[M], obj: object, /, **given: object) -> M:
    """The model with each field read off ``obj`` (a domain dataclass) by the same name; ``given`` sets or
    overrides fields."""
    return model.model_validate({f: given[f] if f in given else getattr(obj, f) for f in model.model_fields})
