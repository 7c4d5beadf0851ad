"""``make_index(kind)``: the one place that picks a ``VectorIndex`` adapter."""

from __future__ import annotations

from typing import Any

from sitewide.domain.types import ValidationError
from sitewide.index.exact import ExactIndex


def make_index(kind: str = "auto", **options: Any) -> Any:
    """``"exact"`` (numpy), ``"ivf"`` / ``"hnsw"`` (faiss), or ``"auto"``: IVF when faiss is installed, else
    exact. Options go to the adapter's constructor (e.g. ``nprobe=64``)."""
    if kind == "exact":
        return ExactIndex(**options)
    if kind in ("hnsw", "ivf", "faiss"):
        from sitewide.index.ann import FaissIndex

        return FaissIndex(kind="hnsw" if kind == "faiss" else kind, **options)
    if kind == "auto":
        from sitewide.index.ann import FaissIndex, faiss_available

        return FaissIndex(kind="ivf", **options) if faiss_available() else ExactIndex()
    raise ValidationError(f"unknown index kind {kind!r}")
