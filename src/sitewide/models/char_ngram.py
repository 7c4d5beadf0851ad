"""The serving default text encoder: character 2/3-grams hashed (CRC32) into signed buckets. No torch.

A catalogue of a million titles is encoded in seconds, not minutes: a title's grams are those of each of its
words padded with one space (`` word ``) plus one trigram per pair of neighbouring words (last letter, space,
first letter), so the encoding is additive over words and word joins. A batch is a sparse ``texts × units``
matrix (each distinct word's and join's grams hashed once) times the units' signed bucket counts, summed with
``torch``'s ``embedding_bag`` (whole numbers, exact in float32), then normalised: the same vectors as hashing
every title's grams one by one (:meth:`_one`; ``tests/index/test_char_ngram.py``). Only that batch path
imports torch.

Chinese has no spaces: a CJK run inside a word gives its characters and character bigrams instead (as BM25's
tokens do), not 2/3-grams of the whole run. On the real Taobao query–title pairs (bench/ranking.py) 2/3-grams of
40-character runs crowd 256 buckets and recall@50 was 0.56; characters and bigrams give 0.92. Latin, digits and
other scripts keep their padded 2/3-grams, so English titles encode exactly as before.
"""

from __future__ import annotations

import re
import zlib
from array import array
from collections.abc import Sequence

import numpy as np

from sitewide.domain.types import FloatArray, IntArray

BATCH_MIN = 64  # below this many texts, the per-text path (with its cache) is used
_CHUNK = 65_536  # texts per embedding_bag
_CJK = re.compile(r"([\u3400-\u9fff\uf900-\ufaff]+)")


def char_ngrams(text: str, ngram: tuple[int, int] = (1, 3)) -> list[str]:
    """Character n-grams of the lower-cased, whitespace-normalised text padded with one space each side."""
    t = f" {' '.join(str(text).lower().split())} "
    lo, hi = ngram
    return [t[i : i + n] for n in range(lo, hi + 1) for i in range(len(t) - n + 1) if t[i : i + n].strip()]


def word_grams(word: str) -> list[str]:
    """The serving encoder's grams of one lower-cased word: padded 2/3-grams, except that each CJK run in it
    gives its characters and character bigrams (the rest of the word: padded 2/3-grams of each piece)."""
    if not _CJK.search(word):
        return char_ngrams(word, (2, 3))
    out: list[str] = []
    for i, piece in enumerate(_CJK.split(word)):  # odd pieces are the CJK runs
        if i % 2:
            out += [*piece, *(piece[j : j + 2] for j in range(len(piece) - 1))]
        elif piece:
            out += char_ngrams(piece, (2, 3))
    return out


def text_grams(text: str) -> list[str]:
    """Every gram of a text for :class:`CharNgramEncoder`: each word's :func:`word_grams` and one trigram per
    pair of neighbouring words (last letter, space, first letter)."""
    ws = str(text).lower().split()
    return [g for w in ws for g in word_grams(w)] + [
        f"{a[-1]} {b[0]}" for a, b in zip(ws, ws[1:], strict=False)
    ]


def _codes(grams: Sequence[str], dim: int) -> list[int]:
    """Each gram's bucket, ``+ dim`` when it counts -1 (the sign is bit 16 of the CRC32)."""
    out = []
    for g in grams:
        h = zlib.crc32(g.encode())
        out.append(h % dim + (0 if (h >> 16) & 1 else dim))
    return out


class CharNgramEncoder:
    """Character 2/3-grams hashed (CRC32) into ``dim`` signed buckets, L2-normalised; no training, any script.
    The serving default (``sitewide.wiring``): the shipped ranker's similarity features were computed with it.
    ``encode(texts) -> [n, dim]`` float32; repeated texts (queries) come from a bounded cache."""

    def __init__(self, dim: int = 256, cache_size: int = 100_000) -> None:
        self.dim = dim
        self._cache: dict[str, FloatArray] = {}  # encoding is a Python loop over n-grams
        self._cache_size = cache_size

    def _one(self, text: str) -> FloatArray:
        v = self._cache.get(text)
        if v is None:
            acc = np.zeros(2 * self.dim, dtype=np.float64)
            np.add.at(acc, np.asarray(_codes(text_grams(text), self.dim), dtype=np.int64), 1.0)
            v = _unit(acc[None, : self.dim] - acc[None, self.dim :])[0]
            if len(self._cache) < self._cache_size:
                self._cache[text] = v
        return v

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) < BATCH_MIN:
            return np.stack([self._one(t) for t in texts])
        return self._batch(texts)

    def _batch(self, texts: Sequence[str]) -> FloatArray:
        """Word by word (module docstring): each text's words as ids into a vocabulary, then
        :meth:`encode_words`."""
        unit: dict[str, int] = {}
        ids = array("q")
        lengths = array("q")
        for t in texts:
            ws = str(t).lower().split()
            for w in ws:
                u = unit.get(w)
                if u is None:
                    u = unit[w] = len(unit)
                ids.append(u)
            lengths.append(len(ws))
        return self.encode_words(
            list(unit), np.frombuffer(ids, dtype=np.int64), np.frombuffer(lengths, dtype=np.int64)
        )

    def encode_words(self, vocab: Sequence[str], ids: IntArray, lengths: IntArray) -> FloatArray:
        """``[len(lengths), dim]``: text ``r`` is the words ``vocab[ids[i]]`` for the next ``lengths[r]`` ``i``
        (lower-case words without whitespace, as ``str.lower().split()`` gives them); the same vectors as
        :meth:`encode` of the texts those words make (a text is the sum of its words' grams and of one trigram
        per pair of neighbouring words, so a batch is a sparse ``texts × units`` matrix times the units'
        signed bucket counts: ``embedding_bag``), whatever the vocabulary's order."""
        import torch  # a catalogue-sized batch only; single texts need no torch

        dim = self.dim
        ids = np.asarray(ids, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        n = len(lengths)
        # joins: (last letter of a word, first letter of the next word in the same text), one unit per pair
        chars = sorted({w[0] for w in vocab} | {w[-1] for w in vocab})
        code = {c: i for i, c in enumerate(chars)}
        first = np.array([code[w[0]] for w in vocab], dtype=np.int64)
        last = np.array([code[w[-1]] for w in vocab], dtype=np.int64)
        ends = np.cumsum(lengths)
        inside = np.ones(max(len(ids) - 1, 0), dtype=bool)
        inside[ends[(ends > 0) & (ends < len(ids))] - 1] = False  # a pair across two texts is no join
        pair = (last[ids[:-1]] * len(chars) + first[ids[1:]])[inside]
        seen = np.zeros(len(chars) ** 2, dtype=bool)
        seen[pair] = True
        keys = np.flatnonzero(seen)
        join_ids = (np.cumsum(seen) - 1)[pair]
        joins = [f"{chars[k // len(chars)]} {chars[k % len(chars)]}" for k in keys.tolist()]
        words_t = torch.from_numpy(_counts([word_grams(w) for w in vocab], dim))
        joins_t = torch.from_numpy(_counts([[j] for j in joins], dim))
        n_joins = np.maximum(lengths - 1, 0)
        w_off = ends - lengths
        j_off = np.cumsum(n_joins) - n_joins
        out: FloatArray = np.empty((n, dim), dtype=np.float32)
        ids_t, join_t = torch.from_numpy(ids), torch.from_numpy(join_ids.reshape(-1).astype(np.int64))
        bag = torch.nn.functional.embedding_bag
        with torch.no_grad():
            for lo in range(0, n, _CHUNK):
                hi = min(n, lo + _CHUNK)
                a0, a1 = int(w_off[lo]), int(ends[hi - 1])
                b0, b1 = int(j_off[lo]), int(j_off[hi - 1] + n_joins[hi - 1])
                acc = bag(ids_t[a0:a1], words_t, torch.from_numpy(w_off[lo:hi] - a0), mode="sum")
                if b1 > b0:
                    acc += bag(join_t[b0:b1], joins_t, torch.from_numpy(j_off[lo:hi] - b0), mode="sum")
                _unit_rows(acc.numpy(), out[lo:hi])  # whole numbers: float32 sums are exact
        return out


def _counts(grams: Sequence[Sequence[str]], dim: int) -> np.ndarray:
    """``[len(grams), dim]`` float32: each unit's grams counted into their signed buckets."""
    codes = [_codes(g, dim) for g in grams]
    row = np.repeat(np.arange(len(codes), dtype=np.int64), [len(c) for c in codes])
    flat = np.fromiter((c for cs in codes for c in cs), dtype=np.int64, count=len(row))
    out = np.zeros((len(codes), dim), dtype=np.float32)
    np.add.at(out, (row, flat % dim), np.where(flat < dim, 1.0, -1.0).astype(np.float32))
    return out


def _unit_rows(x: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = _unit(x)`` for whole-number float32 rows, without float64 copies: the squares are summed in
    float64 (exact), the division is done in float64 and rounded once to float32, as :func:`_unit` does."""
    norm = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    np.divide(x, np.where(norm == 0, 1.0, norm)[:, None], out=out, dtype=np.float64, casting="unsafe")


def _unit(x: np.ndarray) -> FloatArray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    out: FloatArray = (x / np.where(norm == 0, 1.0, norm)).astype(np.float32)
    return out
