"""``make_index(kind)``: the one place that picks a ``VectorIndex`` adapter."""

from __future__ import annotations

from typing import Any

from sitewide.domain.types import ValidationError
from sitewide.index.exact import ExactIndex


def make_index(kind: str = "auto", **options: Any) -> Any:
    """``"exact"`` (numpy), ``"hnsw"`` / ``"ivf"`` (faiss), or ``"auto"``: HNSW when faiss is installed,
    else exact. Options go to the adapter's constructor (e.g. ``ef_search=128``)."""
    if kind == "exact":
        return ExactIndex(**options)
    if kind in ("hnsw", "ivf", "faiss"):
        from sitewide.index.ann import FaissIndex

        return FaissIndex(kind="hnsw" if kind == "faiss" else kind, **options)
    if kind == "auto":
        from sitewide.index.ann import FaissIndex, faiss_available

        return FaissIndex(kind="hnsw", **options) if faiss_available() else ExactIndex()
    raise ValidationError(f"unknown index kind {kind!r}")
