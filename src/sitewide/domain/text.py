"""Search-text tokens, one definition for lexical retrieval (``index.bm25``) and the engine's word-match fusion
(``engine.retrieval.word_share``): lower-cased Latin/digit words (``"usb-c"``, ``"2.5"`` stay whole), and for CJK
text every character plus every character bigram (Chinese titles have no spaces, so words are not available
without a segmenter)."""

from __future__ import annotations

import re

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")  # a run of CJK characters
WORD = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")  # a Latin/digit word, in lower-cased text


def words(text: str) -> list[str]:
    """The Latin/digit words of ``text``, lower case."""
    return WORD.findall(str(text).lower())


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


def tokenize(text: str) -> list[str]:
    """BM25's tokens: the words, then each CJK run's characters and character bigrams."""
    t = str(text).lower()
    toks = WORD.findall(t)
    for run in CJK.findall(t):
        toks.extend(run)
        toks.extend(run[i : i + 2] for i in range(len(run) - 1))
    return toks
