"""Search queries from intents: what a shopper types for a product, not the product's title.

A query is built from the target product's intent — its kind of product (the head noun of its title, or a
synonym), a few of its attributes (brand, line, size, colour, model number), sometimes a price word or a use
("for office") — then noised the way real queries are: short, typos, singular/plural, and on a bilingual
marketplace some queries in Chinese (head noun and colour translated, brand kept in Latin letters).

The mix is set to the real query sets in ``../shared/data`` (measured there, see :data:`WANDS_STATS` and
:data:`MULTICPR_STATS`; ``bench/ranking.py`` prints the generated statistics next to them):

- WANDS (Wayfair, 480 English queries): words per query 1: 4.8 %, 2: 22.7 %, 3: 35.2 %, 4: 20.6 %, ≥ 5: 16.7 %
  (mean 3.38); 9.2 % contain a digit; 0.2 % a price word; "for" in 1.9 %; misspellings in about 6 % (a hand
  count of 4 in a random 60: "biycicle", "doning", "dull bed with shirt head board").
- Multi-CPR (Taobao, 167 Chinese queries): median 6 characters (mean 7.0), 16 % contain Latin letters (brands,
  model numbers), 13 % digits.

The share of Chinese queries (``zh_share``) is an assumption: the packaged catalogue is English.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sitewide.domain.types import FloatArray, IntArray

WANDS_STATS = {"words_mean": 3.38, "words_median": 3.0, "digit_share": 0.092, "typo_share": 0.06}
MULTICPR_STATS = {"chars_median": 6.0, "chars_mean": 6.96, "latin_share": 0.16}
# words per query (1, 2, 3, 4, 5, 6, 7+), WANDS
LENGTH_P = (0.048, 0.227, 0.352, 0.206, 0.09, 0.05, 0.027)

# synonyms a shopper uses for a title's head noun (both directions are applied)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "screen": ("display", "monitor"),
    "monitor": ("screen", "display"),
    "case": ("cover", "sleeve"),
    "cover": ("case",),
    "sleeve": ("case", "cover"),
    "drive": ("hdd", "disk"),
    "cable": ("cord", "wire"),
    "cord": ("cable",),
    "cartridge": ("ink", "toner"),
    "toner": ("cartridge",),
    "adapter": ("charger", "converter"),
    "charger": ("adapter",),
    "headset": ("headphones",),
    "headphones": ("earphones", "headset"),
    "earphones": ("earbuds", "headphones"),
    "speaker": ("speakers",),
    "laptop": ("notebook",),
    "notebook": ("laptop",),
    "tv": ("television",),
    "hdtv": ("tv", "television"),
    "webcam": ("camera",),
    "camera": ("cam",),
    "mouse": ("mice",),
    "keyboard": ("keypad",),
    "mount": ("bracket", "holder"),
    "stand": ("holder",),
    "card": ("memory card",),
    "battery": ("batteries",),
    "kit": ("set",),
    "player": ("mp3",),
    "protector": ("guard",),
    "bag": ("backpack",),
    "backpack": ("bag",),
    "printer": ("printers",),
    "router": ("wifi",),
}

# English → Chinese for the catalogue's kinds of products and common attributes (hand-written)
ZH: dict[str, str] = {
    "screen": "屏幕",
    "display": "显示器",
    "monitor": "显示器",
    "case": "保护壳",
    "cover": "保护套",
    "sleeve": "内胆包",
    "card": "存储卡",
    "drive": "硬盘",
    "cable": "数据线",
    "cord": "线",
    "cartridge": "墨盒",
    "ink": "墨水",
    "toner": "硒鼓",
    "kit": "套装",
    "adapter": "适配器",
    "mouse": "鼠标",
    "camera": "相机",
    "mount": "支架",
    "stand": "支架",
    "system": "系统",
    "module": "模块",
    "protector": "保护膜",
    "keyboard": "键盘",
    "switch": "交换机",
    "charger": "充电器",
    "player": "播放器",
    "box": "盒",
    "headset": "耳机",
    "headphones": "耳机",
    "earphones": "耳机",
    "labels": "标签",
    "label": "标签",
    "enclosure": "硬盘盒",
    "receiver": "接收器",
    "speaker": "音箱",
    "speakers": "音箱",
    "projector": "投影仪",
    "scanner": "扫描仪",
    "frame": "相框",
    "film": "贴膜",
    "binder": "文件夹",
    "filter": "滤镜",
    "battery": "电池",
    "batteries": "电池",
    "antenna": "天线",
    "phone": "手机",
    "backpack": "双肩包",
    "webcam": "摄像头",
    "dock": "扩展坞",
    "paper": "纸",
    "calculator": "计算器",
    "radio": "收音机",
    "cooler": "散热器",
    "lamp": "台灯",
    "tablet": "平板",
    "tripod": "三脚架",
    "shredder": "碎纸机",
    "camcorder": "摄像机",
    "memory": "内存",
    "printer": "打印机",
    "wallet": "钱包",
    "stylus": "触控笔",
    "bag": "包",
    "tv": "电视",
    "hdtv": "电视",
    "hub": "集线器",
    "router": "路由器",
    "laptop": "笔记本",
    "notebook": "笔记本",
    "lens": "镜头",
    "fan": "风扇",
    "microphone": "麦克风",
    "pen": "笔",
    "mat": "垫",
    "tape": "胶带",
    "ssd": "固态硬盘",
    "subwoofer": "低音炮",
    "recorder": "录音笔",
    "clock": "时钟",
    "desktop": "台式机",
    "computer": "电脑",
    "usb": "usb",
    "wireless": "无线",
    "bluetooth": "蓝牙",
    "black": "黑色",
    "white": "白色",
    "red": "红色",
    "blue": "蓝色",
    "pink": "粉色",
    "silver": "银色",
    "gray": "灰色",
    "grey": "灰色",
    "green": "绿色",
    "purple": "紫色",
    "brown": "棕色",
    "yellow": "黄色",
    "orange": "橙色",
    "portable": "便携",
    "digital": "数码",
    "cheap": "便宜",
    "premium": "高端",
}
# words Taobao queries add to a kind of product (new, genuine, household, portable, HD, large capacity,
# multi-function, original, high-speed, universal)
ZH_MODIFIERS = ("新款", "正品", "家用", "便携", "高清", "大容量", "多功能", "原装", "高速", "通用")
COLOURS = frozenset(
    "black white red blue pink silver gray grey green purple brown yellow orange clear tan navy".split()
)
STOP = frozenset(
    "with for and the of by to in a an on w/ & - + x pack ct count pk set new edition version".split()
)
USES = ("for office", "for home", "for kids", "for car", "for travel", "for gaming", "for laptop")
_WORD = re.compile(r"[a-z0-9]+(?:[.\-/][a-z0-9]+)*")
_KEYS = "qwertyuiop asdfghjkl zxcvbnm"


@dataclass(frozen=True)
class QueryModel:
    """The generator's mix; defaults measured on WANDS / Multi-CPR (module docstring) except ``zh_share``."""

    typo_share: float = 0.06  # queries with one misspelt word (WANDS ≈ 6 %)
    synonym_share: float = 0.35  # head noun replaced by a synonym (assumption)
    plural_share: float = 0.2  # head noun's number flipped (assumption)
    price_share: float = 0.03  # a price word ("cheap", "under 50"); WANDS 0.2 %, e-commerce search more
    use_share: float = 0.02  # a use ("for office"); WANDS "for" 1.9 %
    brand_only_share: float = 0.15  # brand / product line + head noun ("osgood mirror") (assumption)
    zh_share: float = 0.15  # Chinese queries on a bilingual marketplace (assumption)


def _content_words(title: str) -> tuple[list[str], str]:
    """The title's first segment's words (before "with", "for", " - ", ",") and its head noun."""
    seg = re.split(r" with | for | - |,| w/ |\(", title.lower())[0]
    words = [w for w in _WORD.findall(seg) if w not in STOP]
    alpha = [w for w in words if w.isalpha() and w not in COLOURS and len(w) > 1]
    head = next((w for w in reversed(alpha) if w in ZH or w in SYNONYMS), alpha[-1] if alpha else "")
    if not head:
        head = words[-1] if words else title.lower().split()[0] if title.split() else "item"
    return words, head


def _typo(word: str, rng: np.random.Generator) -> str:
    """One keyboard-style error: drop, double, swap two neighbours or hit a neighbouring key."""
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 1))
    op = int(rng.integers(0, 4))
    if op == 0:
        return word[:i] + word[i + 1 :]
    if op == 1:
        return word[:i] + word[i] + word[i:]
    if op == 2:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    k = _KEYS.find(word[i])
    if k < 0:
        return word
    near = [c for c in (_KEYS[k - 1] if k else " ", _KEYS[k + 1] if k + 1 < len(_KEYS) else " ") if c != " "]
    return word[:i] + (near[int(rng.integers(0, len(near)))] if near else word[i]) + word[i + 1 :]


def _flip_number(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


class QueryGenerator:
    """``generate(products, rng) -> list[str]``: one query per target product row, drawn afresh each call.

    Built from the catalogue's titles, brands and standardised log prices (``z_price``)."""

    def __init__(
        self,
        titles: Sequence[str],
        brands: Sequence[str],
        z_price: FloatArray,
        model: QueryModel | None = None,
    ) -> None:
        self.model = model or QueryModel()
        parsed = [_content_words(t) for t in titles]
        self.words = [w for w, _ in parsed]
        self.head = [h for _, h in parsed]
        self.brand = [str(b or "").lower() for b in brands]
        self.z_price = np.asarray(z_price, dtype=np.float64)

    def generate(self, products: IntArray, rng: np.random.Generator) -> list[str]:
        return [self.one(int(p), rng) for p in np.asarray(products).tolist()]

    def one(self, p: int, rng: np.random.Generator) -> str:
        m = self.model
        head = self.head[p]
        if rng.random() < m.synonym_share and head in SYNONYMS:
            opts = SYNONYMS[head]
            head = opts[int(rng.integers(0, len(opts)))]
        if rng.random() < m.plural_share and " " not in head:
            head = _flip_number(head)
        attrs = [w for w in self.words[p] if w != self.head[p]]
        n_words = 1 + int(rng.choice(len(LENGTH_P), p=np.asarray(LENGTH_P) / sum(LENGTH_P)))
        if rng.random() < m.brand_only_share and self.brand[p]:
            picked = [self.brand[p]]
        else:
            k = min(max(n_words - 1, 0), len(attrs))
            # model numbers are rarer in queries than in titles (WANDS: 9 % of queries have a digit)
            w = np.array([0.15 if any(c.isdigit() for c in a) else 1.0 for a in attrs])
            idx = (
                np.sort(rng.choice(len(attrs), size=k, replace=False, p=w / w.sum()))
                if k
                else np.zeros(0, dtype=np.int64)
            )
            picked = [attrs[i] for i in idx.tolist()]
        extra: list[str] = []
        if rng.random() < m.price_share:
            z = float(self.z_price[p])
            extra.append("cheap" if z < -0.3 else "premium" if z > 0.7 else "best")
        if rng.random() < m.use_share:
            extra.append(USES[int(rng.integers(0, len(USES)))])
        if rng.random() < m.zh_share:
            return self._chinese(p, head, picked, extra, rng)
        words = picked + [head] + extra
        if rng.random() < m.typo_share:
            cand = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
            if cand:
                i = cand[int(rng.integers(0, len(cand)))]
                words[i] = _typo(words[i], rng)
        return " ".join(w for w in words if w)

    def _chinese(
        self, p: int, head: str, picked: list[str], extra: list[str], rng: np.random.Generator
    ) -> str:
        """Head noun and translatable attributes in Chinese, run together; brand and model numbers stay Latin."""
        zh_head = ZH.get(head) or ZH.get(self.head[p]) or ZH.get(_flip_number(head))
        if zh_head is None:  # nothing to translate: the English query
            return " ".join([*picked, head, *extra])
        latin = [w for w in picked if w not in ZH and (w == self.brand[p] or any(c.isdigit() for c in w))]
        zh_attr = [ZH[w] for w in picked if w in ZH and ZH[w] != zh_head]
        zh_extra = [ZH[w] for w in extra if w in ZH]
        lead = latin[:1] if rng.random() < 0.3 else []
        n_mod = int(rng.choice(3, p=[0.3, 0.5, 0.2]))
        mods = [ZH_MODIFIERS[i] for i in rng.choice(len(ZH_MODIFIERS), size=n_mod, replace=False).tolist()]
        return (" ".join(lead) + "".join([*mods, *zh_attr, zh_head, *zh_extra])).strip()


def query_stats(queries: Sequence[str]) -> dict[str, float]:
    """The yardstick statistics of a query set: English (words per query, digit share) and Chinese (characters
    per query, share with Latin letters) computed on the queries that contain CJK characters or not."""
    cjk = re.compile(r"[\u3400-\u9fff]")
    zh = [q for q in queries if cjk.search(q)]
    en = [q for q in queries if q and not cjk.search(q)]
    out: dict[str, float] = {"n": float(len(queries)), "zh_share": len(zh) / max(len(queries), 1)}
    if en:
        w = np.array([len(q.split()) for q in en])
        out |= {
            "words_mean": float(w.mean()),
            "words_median": float(np.median(w)),
            "digit_share": float(np.mean([any(c.isdigit() for c in q) for q in en])),
        }
    if zh:
        c = np.array([len(q.replace(" ", "")) for q in zh])
        out |= {
            "chars_median": float(np.median(c)),
            "chars_mean": float(c.mean()),
            "latin_share": float(np.mean([bool(re.search(r"[a-z]", q)) for q in zh])),
        }
    return out


_CJK_RUN = re.compile(r"[\u3400-\u9fff]+|[A-Za-z0-9]+")


def fragment_queries(titles: Sequence[str], rng: np.random.Generator, per_title: int = 4) -> list[list[str]]:
    """Chinese queries for Chinese titles (``per_title`` each): Taobao queries are mostly one or two fragments
    of a title run together (Multi-CPR: median 6 characters, e.g. 墙面底漆 for …内外墙用底漆), sometimes with a
    model number, now and then a character dropped. Fragments are 2–4 characters of a CJK run of the title."""
    out: list[list[str]] = []
    for title in titles:
        runs = _CJK_RUN.findall(str(title))
        cjk = [r for r in runs if len(r) >= 2 and not r.isascii()]
        latin = [r.lower() for r in runs if r.isascii() and len(r) >= 2]
        qs: list[str] = []
        for _ in range(per_title):
            parts: list[str] = []
            for _ in range(1 + int(rng.random() < 0.6)):
                if not cjk:
                    break
                run = cjk[int(rng.integers(0, len(cjk)))]
                n = min(len(run), int(rng.integers(2, 5)))
                s = int(rng.integers(0, len(run) - n + 1))
                parts.append(run[s : s + n])
            if latin and (not parts or rng.random() < 0.15):
                parts.insert(0, latin[int(rng.integers(0, len(latin)))])
            q = "".join(parts) or str(title)[:6]
            if len(q) > 3 and rng.random() < 0.05:
                i = int(rng.integers(1, len(q) - 1))
                q = q[:i] + q[i + 1 :]
            qs.append(q)
        out.append(qs)
    return out
