"""Two-tower retrieval: a request tower (query text, user, request kind) and a product tower (title text,
id/category/brand/shop), both ending in L2-normalised ``[B, D]`` vectors so that an inner-product
``VectorIndex`` over product vectors retrieves for a request vector.

Text enters as hashed character 1–3-grams (the same hashing as :class:`HashedNgramEncoder`), padded to
``[B, L]`` with ``pad = n_text_buckets`` (ignored by the bag).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sitewide.models.char_ngram import char_ngrams
from sitewide.models.features import ProductTable, UserTable, hash_field

TEXT_BUCKETS = 1 << 15


def padded_grams(texts: Sequence[str], n_buckets: int = TEXT_BUCKETS, max_len: int = 160) -> torch.Tensor:
    """``[len(texts), L]`` int64 gram buckets, padded with ``n_buckets``."""
    rows = [[zlib.crc32(g.encode()) % n_buckets for g in char_ngrams(t)][:max_len] for t in texts]
    width = max((len(r) for r in rows), default=1) or 1
    out = torch.full((len(texts), width), n_buckets, dtype=torch.int64)
    for i, r in enumerate(rows):
        if r:
            out[i, : len(r)] = torch.tensor(r, dtype=torch.int64)
    return out


@dataclass(frozen=True)
class TwoTowerSpec:
    n_id_buckets: int
    n_product_fields: int
    n_text_buckets: int = TEXT_BUCKETS


@dataclass(frozen=True)
class TwoTowerConfig:
    dim: int = 64
    emb_dim: int = 32


class TwoTower(nn.Module):
    def __init__(self, spec: TwoTowerSpec, config: TwoTowerConfig | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.config = c = config or TwoTowerConfig()
        self.text = nn.EmbeddingBag(
            spec.n_text_buckets + 1, c.emb_dim, mode="mean", padding_idx=spec.n_text_buckets
        )
        self.ids = nn.Embedding(spec.n_id_buckets, c.emb_dim)
        nn.init.normal_(self.ids.weight, std=0.05)
        self.request_mlp = nn.Sequential(
            nn.Linear(3 * c.emb_dim, 2 * c.dim), nn.ReLU(), nn.Linear(2 * c.dim, c.dim)
        )
        self.product_mlp = nn.Sequential(
            nn.Linear((1 + spec.n_product_fields) * c.emb_dim, 2 * c.dim),
            nn.ReLU(),
            nn.Linear(2 * c.dim, c.dim),
        )

    def encode_requests(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``(text [B, L], user code [B], kind code [B]) -> [B, dim]`` normalised."""
        text, user, kind = batch
        h = torch.cat([self.text(text), self.ids(user), self.ids(kind)], dim=1)  # [B, 3E]
        return F.normalize(self.request_mlp(h), dim=1)

    def encode_products(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``(text [B, L], codes [B, Fp]) -> [B, dim]`` normalised."""
        text, codes = batch
        h = torch.cat([self.text(text), self.ids(codes).flatten(1)], dim=1)  # [B, (1 + Fp)E]
        return F.normalize(self.product_mlp(h), dim=1)


@dataclass
class TwoTowerData:
    """Requests and products hashed once; ``pair_*`` are (request row, clicked product row) training pairs, with
    an optional hard negative each (a product the same request showed and the user did not click)."""

    spec: TwoTowerSpec
    request_text: torch.Tensor  # [R, Lq]
    request_user: torch.Tensor  # [R]
    request_kind: torch.Tensor  # [R]
    product_text: torch.Tensor  # [P, L]
    product_codes: torch.Tensor  # [P, Fp]
    pair_request: np.ndarray  # [M]
    pair_product: np.ndarray  # [M]
    pair_negative: np.ndarray | None = None  # [M] a hard negative per pair (shown, not clicked), -1 for none

    @property
    def n_products(self) -> int:
        return int(self.product_codes.shape[0])

    def request_batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        i = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        return self.request_text[i], self.request_user[i], self.request_kind[i]

    def product_batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        i = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        return self.product_text[i], self.product_codes[i]


def request_features(
    queries: Sequence[str], user_codes: np.ndarray, kinds: np.ndarray, n_id_buckets: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Serving-time request features (the same hashing as training)."""
    kind_codes = hash_field("r.kind", [0, 1], n_id_buckets)
    return (
        padded_grams(queries),
        torch.from_numpy(np.asarray(user_codes, dtype=np.int64)),
        torch.from_numpy(kind_codes[np.asarray(kinds, dtype=np.int64)]),
    )


def make_two_tower_data(
    products: ProductTable,
    product_texts: Sequence[str],
    users: UserTable,
    queries: Sequence[str],
    request_user: np.ndarray,
    request_kind: np.ndarray,
    pair_request: np.ndarray,
    pair_product: np.ndarray,
    n_id_buckets: int,
    pair_negative: np.ndarray | None = None,
) -> TwoTowerData:
    ru = np.asarray(request_user, dtype=np.int64)
    known = (ru >= 0) & (ru < len(users))
    ucode = np.where(known, users.codes[np.where(known, ru, 0), 0] if len(users) else 0, users.unknown[0])
    text, user, kind = request_features(queries, ucode, request_kind, n_id_buckets)
    return TwoTowerData(
        TwoTowerSpec(n_id_buckets, len(products.fields)),
        text,
        user,
        kind,
        padded_grams(product_texts),
        torch.from_numpy(products.codes),
        np.asarray(pair_request, dtype=np.int64),
        np.asarray(pair_product, dtype=np.int64),
        None if pair_negative is None else np.asarray(pair_negative, dtype=np.int64),
    )


def product_vectors(model: TwoTower, data: TwoTowerData, block: int = 4096) -> np.ndarray:
    """``[P, dim]`` float32 product vectors for the index."""
    out = []
    with torch.no_grad():
        for s in range(0, data.n_products, block):
            rows = np.arange(s, min(s + block, data.n_products))
            out.append(model.encode_products(data.product_batch(rows)).numpy())
    return np.concatenate(out).astype(np.float32)


def request_vectors(model: TwoTower, data: TwoTowerData, rows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.encode_requests(data.request_batch(rows)).numpy().astype(np.float32)
