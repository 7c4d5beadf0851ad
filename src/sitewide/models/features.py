"""The one feature pipeline shared by training and serving.

A :class:`ScoreInput` (R requests × N candidates) becomes a flat :class:`RankBatch` of B = (non-padded) pairs:

- ``cat [B, F]`` hashed categorical codes: product fields (id, category, brand, shop — or OBD's item fields),
  user fields (user id — or OBD's user features; an unknown user gets the field's "unknown" code) and the
  request kind (search / feed). Every field hashes ``"field=value"`` with CRC32 into one shared table of
  ``n_buckets`` rows (the hashing trick), so a new product or user needs no vocabulary change.
- ``dense [B, K]`` floats: three request-level match features computed over the request's whole candidate row —
  the retrieval similarity, its gap to the row's best match, and the share of the row's ten best matches that
  are in the candidate's category (a query-category signal: what the query is about) — then the product's
  numeric columns (for catalogue products: standardised log price and log price relative to the category median).
- ``position [B]`` (training only; ``None`` at serving time). A training log may carry the whole candidate row
  the engine retrieved with ``position = -1`` for candidates that were not shown: they count for the row
  features (as at serving time) but are not training pairs.

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

from sitewide.domain.types import IntArray, Product, ValidationError
from sitewide.ports import ScoreInput

DEFAULT_BUCKETS = 1 << 15
UNKNOWN = "\x00unknown"
REQUEST_DENSE = ("similarity", "similarity_gap", "category_share")
SHARE_TOP = 10  # category_share looks at the row's SHARE_TOP best matches


def hash_field(field: str, values: Sequence[object], n_buckets: int) -> IntArray:
    """``crc32("field=value") % n_buckets`` for each value: ``[len(values)]`` int64 (each distinct value hashed
    once: a million products have a few hundred categories, brands and shops)."""
    code: dict[str, int] = {}  # by the text hashed (1 and 1.0 are one dict key but two texts)
    idx = np.fromiter((code.setdefault(f"{v}", len(code)) for v in values), dtype=np.int64, count=len(values))
    h = np.fromiter((zlib.crc32(f"{field}={v}".encode()) % n_buckets for v in code), dtype=np.int64)
    out: IntArray = h[idx] if len(values) else np.zeros(0, dtype=np.int64)
    return out


def logged_mask(x: ScoreInput) -> npt.NDArray[np.bool_]:
    """``[R, N]`` the shown pairs of a logged ``ScoreInput``: real products (``product ≥ 0``) and, when
    positions are given, shown ones (``position ≥ 0``; a logged candidate row may hold unshown candidates)."""
    mask: npt.NDArray[np.bool_] = np.asarray(x.product) >= 0
    if x.position is not None:
        mask &= np.asarray(x.position) >= 0
    return mask


def logged_pairs(x: ScoreInput) -> tuple[IntArray, IntArray]:
    """``(rows, cols)`` of :func:`logged_mask`."""
    rows, cols = np.nonzero(logged_mask(x))
    return rows.astype(np.int64), cols.astype(np.int64)


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

    @property
    def group(self) -> IntArray:
        """``[P]`` the category code the ``category_share`` feature compares (the ``category`` field's hashed
        code; all 0 for a table without one)."""
        if "category" in self.fields:
            g: IntArray = self.codes[:, self.fields.index("category")]
            return g
        return np.zeros(len(self), dtype=np.int64)

    @classmethod
    def concat(cls, tables: Sequence[ProductTable]) -> ProductTable:
        """Tables with the same fields stacked (rows of table k follow those of tables 0..k-1)."""
        if not tables or any(
            (t.fields, t.dense_names) != (tables[0].fields, tables[0].dense_names) for t in tables
        ):
            raise ValidationError("concat needs product tables with the same fields")
        return cls(
            tables[0].fields,
            tables[0].dense_names,
            np.concatenate([t.codes for t in tables]),
            np.concatenate([t.dense for t in tables]),
        )

    def take(self, rows: IntArray) -> ProductTable:
        """The products at ``rows`` (repeats allowed), as a new table."""
        return ProductTable(self.fields, self.dense_names, self.codes[rows], self.dense[rows])

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
        of: dict[str, int] = {}
        cat_code = np.fromiter((of.setdefault(c, len(of)) for c in cats), dtype=np.int64, count=len(cats))
        for g in range(len(of)):
            m = cat_code == g
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
        return len(REQUEST_DENSE) + len(self.dense_names)  # request match features + product numeric columns


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
        pos_full = None
        if keep_position and x.position is not None:
            pos_full = np.asarray(x.position, dtype=np.int64)
            if pos_full.shape != prod.shape:
                raise ValidationError("position must match product [R, N]")
        # training pairs: shown candidates (position ≥ 0) when positions are given; serving: every candidate
        pair = prod >= 0 if pos_full is None else logged_mask(x)
        req = self._request_features(prod, sim)  # [R, N, 3] over the whole row, shown or not
        rows, cols = np.nonzero(pair)
        p = prod[rows, cols]
        u = user[rows]
        known = (u >= 0) & (u < len(self.users))
        ucodes = np.where(
            known[:, None],
            self.users.codes[np.where(known, u, 0)] if len(self.users) else 0,
            self.users.unknown[None, :],
        )
        cat = np.concatenate(
            [
                self.products.codes[p],
                ucodes.reshape(len(p), len(self.users.fields)),
                self.kind_codes[kind[rows]][:, None],
            ],
            axis=1,
        )
        dense = np.concatenate([req[rows, cols], self.products.dense[p]], axis=1)
        pos = None
        if pos_full is not None:
            pos = torch.from_numpy(np.clip(pos_full[rows, cols], 0, self.n_positions - 1))
        return RankBatch(
            torch.from_numpy(np.ascontiguousarray(cat, dtype=np.int64)),
            torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32)),
            pos,
            rows.astype(np.int64),
            cols.astype(np.int64),
        )

    def _request_features(self, prod: IntArray, sim: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """``[R, N, 3]``: similarity, similarity − the row's best, share of the row's ``SHARE_TOP`` best matches
        in the candidate's category (padded slots: 0)."""
        r, n = prod.shape
        pad = prod < 0
        s = np.where(pad, 0.0, np.nan_to_num(sim)).astype(np.float32)
        out = np.zeros((r, n, len(REQUEST_DENSE)), dtype=np.float32)
        if r == 0 or n == 0:
            return out
        masked = np.where(pad, -np.inf, s)
        best = masked.max(axis=1, keepdims=True)
        best = np.where(np.isfinite(best), best, 0.0)
        g = np.where(pad, -1, self.products.group[np.maximum(prod, 0)])  # [R, N]
        m = min(SHARE_TOP, n)
        top = (
            np.argpartition(-masked, m - 1, axis=1)[:, :m] if m < n else np.broadcast_to(np.arange(n), (r, n))
        )
        g_top = np.take_along_axis(g, top, axis=1)  # [R, m]; padded slots are -1
        n_top = np.maximum((g_top >= 0).sum(axis=1, keepdims=True), 1)
        share = np.zeros((r, n), dtype=np.float32)
        for j in range(m):  # m passes over [R, N] instead of an [R, N, m] temporary
            share += g == g_top[:, j : j + 1]
        out[..., 0] = s
        out[..., 1] = np.where(pad, 0.0, s - best)
        out[..., 2] = np.where(pad, 0.0, share / n_top)
        return out
