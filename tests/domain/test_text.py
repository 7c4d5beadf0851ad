"""``domain.text``: the one tokeniser BM25 and the engine's word-match fusion read."""

from sitewide.domain.text import has_cjk, tokenize, words
from sitewide.engine.retrieval import word_share


def test_words_keep_hyphen_and_decimal_words_whole_in_lower_case() -> None:
    assert words("USB-C cable, 2.5 m — Nike's") == ["usb-c", "cable", "2.5", "m", "nike", "s"]


def test_cjk_runs_give_characters_then_bigrams_after_the_words() -> None:
    assert tokenize("Apple 苹果手机") == ["apple", "苹", "果", "手", "机", "苹果", "果手", "手机"]
    assert has_cjk("iphone 手机") and not has_cjk("iphone case")


def test_word_share_counts_the_query_words_the_engine_matches() -> None:
    assert word_share("Red USB-C", ["red usb-c cable", "red shoes", "blue"]) == [1.0, 0.5, 0.0]
