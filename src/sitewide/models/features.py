"""The one feature pipeline shared by training and serving.

A :class:`ScoreInput` (R requests × N candidates) becomes a flat :class:`RankBatch` of B = (non-padded) pairs:

- ``cat [B, F]`` hashed categorical codes: product fields (id, category, brand, shop — or OBD's item fields),
  user fields (user id — or OBD's user features; an unknown user gets the field's "unknown" code) and the
  request kind (search / feed). Every field hashes ``"field=value"`` with CRC32 into one shared table of
  ``n_buckets`` rows (the hashing trick), so a new product or user needs no vocabulary change.
- ``dense [B, K]`` floats: the retrieval similarity, then the product's numeric columns (for catalogue products:
  standardised log price and log price relative to the category median).
- ``position [B]`` (training only; ``None`` at serving time).

Products and users are hashed once into tables (:class:`ProductTable`, :class:`UserTable`); ``transform`` is only
fancy indexing, so the same code runs on a 300k-row log and on one request.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from sitewide.domain.types import Product, ValidationError
from sitewide.ports import IntArray, ScoreInput

DEFAULT_BUCKETS = 1 << 15
UNKNOWN = "\x00unknown"


def hash_field(field: str, values: Sequence[object], n_buckets: int) -> IntArray:
    """``crc32("field=value") % n_buckets`` for each value: ``[len(values)]`` int64."""
    return np.fromiter(
        (zlib.crc32(f"{field}={v}".encode()) % n_buckets for v in values), dtype=np.int64, count=len(values)
    )


@dataclass(frozen=True)
class ProductTable:
    """P products: ``codes [P, Fp]`` hashed categorical fields, ``dense [P, Kp]`` numeric columns."""

    fields: tuple[str, ...]
    dense_names: tuple[str, ...]
    codes: IntArray
    dense: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @classmethod
    def from_columns(
        cls,
        cat: dict[str, Sequence[object]],
        dense: dict[str, Sequence[float]],
        n_buckets: int = DEFAULT_BUCKETS,
    ) -> ProductTable:
        if not cat:
            raise ValidationError("a product table needs at least one categorical field")
        n = len(next(iter(cat.values())))
        if any(len(v) != n for v in list(cat.values()) + list(dense.values())):
            raise ValidationError("product columns must all have the same length")
        codes = np.stack([hash_field(f"p.{k}", list(v), n_buckets) for k, v in cat.items()], axis=1)
        dn = (
            np.stack([np.asarray(v, dtype=np.float32) for v in dense.values()], axis=1)
            if dense
            else np.zeros((n, 0), dtype=np.float32)
        )
        if not np.isfinite(dn).all():
            raise ValidationError("product dense features must be finite")
        return cls(tuple(cat), tuple(dense), codes.reshape(n, len(cat)), dn)

    @classmethod
    def from_products(cls, products: Sequence[Product], n_buckets: int = DEFAULT_BUCKETS) -> ProductTable:
        """Catalogue products, in the order the ``ScoreInput.product`` row indices refer to."""
        if len(products) == 0:
            raise ValidationError("empty catalogue")
        price = np.array([int(p.price_micros) for p in products], dtype=np.float64)
        if (price <= 0).any():
            raise ValidationError("product prices must be positive")
        logp = np.log(price)
        z = (logp - logp.mean()) / (logp.std() + 1e-9)
        cats = [p.category for p in products]
        rel = np.zeros(len(products))
        cat_arr = np.array(cats, dtype=object)
        for c in set(cats):
            m = cat_arr == c
            rel[m] = logp[m] - np.median(logp[m])
        return cls.from_columns(
            {
                "id": [p.id for p in products],
                "category": cats,
                "brand": [p.brand or UNKNOWN for p in products],
                "shop": [p.shop_id for p in products],
            },
            {"z_log_price": z.tolist(), "rel_log_price": rel.tolist()},
            n_buckets,
        )


@dataclass(frozen=True)
class UserTable:
    """U users: ``codes [U, Fu]`` hashed categorical fields, plus the code each field uses for an unknown user."""

    fields: tuple[str, ...]
    codes: IntArray
    unknown: IntArray  # [Fu]

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @classmethod
    def from_columns(cls, cat: dict[str, Sequence[object]], n_buckets: int = DEFAULT_BUCKETS) -> UserTable:
        n = len(next(iter(cat.values()))) if cat else 0
        codes = (
            np.stack([hash_field(f"u.{k}", list(v), n_buckets) for k, v in cat.items()], axis=1)
            if cat
            else np.zeros((0, 0), dtype=np.int64)
        )
        unknown = np.array([hash_field(f"u.{k}", [UNKNOWN], n_buckets)[0] for k in cat], dtype=np.int64)
        return cls(tuple(cat), codes.reshape(n, len(cat)), unknown)

    @classmethod
    def from_ids(cls, user_ids: Sequence[str], n_buckets: int = DEFAULT_BUCKETS) -> UserTable:
        return cls.from_columns({"id": list(user_ids)}, n_buckets)


@dataclass(frozen=True)
class RankBatch:
    """B (request, candidate) pairs. ``rows``/``cols`` map them back into the ``[R, N]`` input."""

    cat: torch.Tensor  # [B, F] int64
    dense: torch.Tensor  # [B, K] float32
    position: torch.Tensor | None  # [B] int64, training only
    rows: IntArray  # [B]
    cols: IntArray  # [B]

    def __len__(self) -> int:
        return int(self.cat.shape[0])

    def take(self, idx: torch.Tensor) -> RankBatch:
        i = idx.numpy()
        return RankBatch(
            self.cat[idx],
            self.dense[idx],
            None if self.position is None else self.position[idx],
            self.rows[i],
            self.cols[i],
        )


@dataclass(frozen=True)
class FeatureSpec:
    """What a checkpoint needs to rebuild the pipeline's shapes (stored with the weights)."""

    product_fields: tuple[str, ...]
    user_fields: tuple[str, ...]
    dense_names: tuple[str, ...]
    n_buckets: int
    n_positions: int

    @property
    def n_cat(self) -> int:
        return len(self.product_fields) + len(self.user_fields) + 1  # + request kind

    @property
    def n_dense(self) -> int:
        return 1 + len(self.dense_names)  # similarity + product numeric columns


class FeaturePipeline:
    """``transform(ScoreInput) -> RankBatch``: the same function for training logs and serving requests."""

    def __init__(
        self,
        products: ProductTable,
        users: UserTable | None = None,
        n_buckets: int = DEFAULT_BUCKETS,
        n_positions: int = 10,
    ) -> None:
        self.products = products
        self.users = users if users is not None else UserTable.from_columns({"id": []}, n_buckets)
        self.n_buckets = n_buckets
        self.n_positions = n_positions
        self.kind_codes = hash_field("r.kind", [0, 1], n_buckets)

    @property
    def spec(self) -> FeatureSpec:
        return FeatureSpec(
            self.products.fields,
            self.users.fields,
            self.products.dense_names,
            self.n_buckets,
            self.n_positions,
        )

    def transform(self, x: ScoreInput, keep_position: bool = True) -> RankBatch:
        prod = np.asarray(x.product, dtype=np.int64)
        if prod.ndim != 2:
            raise ValidationError(f"ScoreInput.product must be [R, N], got {prod.shape}")
        r, _ = prod.shape
        kind = np.asarray(x.request_kind, dtype=np.int64).reshape(-1)
        user = np.asarray(x.user, dtype=np.int64).reshape(-1)
        sim = np.asarray(x.similarity, dtype=np.float32)
        if kind.shape != (r,) or user.shape != (r,) or sim.shape != prod.shape:
            raise ValidationError("request_kind and user must be [R]; similarity must match product [R, N]")
        if ((kind != 0) & (kind != 1)).any():
            raise ValidationError("request_kind must be 0 (search) or 1 (feed)")
        if prod.max(initial=-1) >= len(self.products):
            raise ValidationError("product index beyond the catalogue")
        rows, cols = np.nonzero(prod >= 0)
        p = prod[rows, cols]
        u = user[rows]
        known = (u >= 0) & (u < len(self.users))
        ucodes = np.where(
            known[:, None],
            self.users.codes[np.where(known, u, 0)] if len(self.users) else 0,
            self.users.unknown[None, :],
        )
        cat = np.concatenate(
            [self.products.codes[p], ucodes.reshape(len(p), -1), self.kind_codes[kind[rows]][:, None]], axis=1
        )
        dense = np.concatenate([np.nan_to_num(sim[rows, cols])[:, None], self.products.dense[p]], axis=1)
        pos = None
        if keep_position and x.position is not None:
            pos_arr = np.asarray(x.position, dtype=np.int64)[rows, cols]
            pos = torch.from_numpy(np.clip(pos_arr, 0, self.n_positions - 1))
        return RankBatch(
            torch.from_numpy(np.ascontiguousarray(cat, dtype=np.int64)),
            torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32)),
            pos,
            rows.astype(np.int64),
            cols.astype(np.int64),
        )
