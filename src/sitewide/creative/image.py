"""Banners composed with Pillow: the product image (or a generated placeholder), the brand colours, a template,
and a layout (text box, logo position) chosen by a small scoring model that keeps text off the product.

Saliency is computed on a 64 × 64 thumbnail as the colour distance of each pixel from the image's border colour
(product photos sit on a plain background) plus the local gradient, box-blurred and scaled to [0, 1]. Each
candidate layout (text box left, right, top or bottom; logo in a corner) is scored by a linear model over named
features (:data:`WEIGHTS`): the saliency under the text box and under the logo (penalised), the text box's
overlap with the logo (penalised), and a small position prior (bottom and left read first). The weights are
hand-set, not trained: there is no data here of which banners people clicked.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from sitewide.domain.creative import BrandKit, CopyDraft, ProductFacts

Box = tuple[int, int, int, int]  # left, top, right, bottom in banner pixels
SIZE = (960, 540)
WEIGHTS = {"text_saliency": -4.0, "logo_saliency": -1.5, "overlap": -2.0, "prior": 0.3}
TEXT_BOXES = {"left": (0.03, 0.08, 0.42, 0.92), "right": (0.58, 0.08, 0.97, 0.92),
              "top": (0.05, 0.04, 0.95, 0.34), "bottom": (0.05, 0.66, 0.95, 0.96)}  # fmt: skip
PRIOR = {"left": 0.6, "bottom": 1.0, "right": 0.5, "top": 0.3}
LOGO_CORNERS = {"top-left": (0.02, 0.03, 0.20, 0.13), "top-right": (0.80, 0.03, 0.98, 0.13),
                "bottom-left": (0.02, 0.87, 0.20, 0.97), "bottom-right": (0.80, 0.87, 0.98, 0.97)}  # fmt: skip
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


@dataclass(frozen=True, slots=True)
class Layout:
    text: str  # key of TEXT_BOXES
    logo: str  # key of LOGO_CORNERS
    score: float
    text_box: Box
    logo_box: Box
    text_saliency: float


def _hex(c: str) -> tuple[int, int, int]:
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


def placeholder_image(facts: ProductFacts, kit: BrandKit, size: tuple[int, int] = SIZE) -> Image.Image:
    """A generated stand-in when the catalogue has no image: a plain background and one product-like shape,
    placed off-centre from the product id (deterministic), so that layout has something to avoid."""
    w, h = size
    h32 = zlib.crc32(facts.product_id.encode())
    img = Image.new("RGB", size, (244, 242, 238))
    d = ImageDraw.Draw(img)
    cx = int(w * (0.25 if h32 % 2 == 0 else 0.75))
    cy = int(h * 0.5)
    r = int(min(w, h) * 0.32)
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_hex(kit.colours[0]))
    d.rounded_rectangle(
        (cx - r // 2, cy - r // 2, cx + r // 2, cy + r // 2), radius=r // 6, fill=(250, 250, 250)
    )
    d.text((cx, cy), (facts.category[:1] or "?").upper(), fill=_hex(kit.colours[0]), anchor="mm",
           font=_font(kit, r // 2))  # fmt: skip
    return img


def saliency(img: Image.Image, side: int = 64) -> np.ndarray:
    """``[side, side]`` saliency in [0, 1]: colour distance from the border colour plus the local gradient."""
    a = np.asarray(img.convert("RGB").resize((side, side), Image.Resampling.BILINEAR), dtype=np.float64)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    dist = np.linalg.norm(a - np.median(border, axis=0), axis=2)
    gray = a.mean(axis=2)
    gy, gx = np.gradient(gray)
    s = dist / 255.0 + 0.5 * np.hypot(gx, gy) / 255.0
    k = 5  # box blur
    pad = np.pad(s, k // 2, mode="edge")
    c = pad.cumsum(0).cumsum(1)
    c = np.pad(c, ((1, 0), (1, 0)))
    blur = (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)
    m = float(blur.max())
    out: np.ndarray = blur / m if m > 0 else blur
    return out


def _frac_box(f: tuple[float, float, float, float], size: tuple[int, int]) -> Box:
    w, h = size
    return int(f[0] * w), int(f[1] * h), int(f[2] * w), int(f[3] * h)


def _mean_in(sal: np.ndarray, f: tuple[float, float, float, float]) -> float:
    n = sal.shape[0]
    x0, y0, x1, y1 = (int(round(v * n)) for v in f)
    return float(sal[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)].mean())  # fmt: skip


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((b[2] - b[0]) * (b[3] - b[1]))


def choose_layout(img: Image.Image, size: tuple[int, int] = SIZE) -> Layout:
    """The best-scoring (text box, logo corner) for this image under :data:`WEIGHTS`."""
    sal = saliency(img)
    best: Layout | None = None
    for tk, tf in TEXT_BOXES.items():
        ts = _mean_in(sal, tf)
        for lk, lf in LOGO_CORNERS.items():
            score = (
                WEIGHTS["text_saliency"] * ts
                + WEIGHTS["logo_saliency"] * _mean_in(sal, lf)
                + WEIGHTS["overlap"] * _overlap(tf, lf)
                + WEIGHTS["prior"] * PRIOR[tk]
            )
            if best is None or score > best.score:
                best = Layout(tk, lk, score, _frac_box(tf, size), _frac_box(lf, size), ts)
    assert best is not None
    return best


def _font(kit: BrandKit, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in (*kit.fonts, *FONT_CANDIDATES):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: object, width: int) -> list[str]:
    words = text.split(" ") if " " in text else list(text)
    sep = " " if " " in text else ""
    lines: list[str] = []
    cur = ""
    for w in words:
        trial = f"{cur}{sep}{w}" if cur else w
        if draw.textlength(trial, font=font) <= width or not cur:  # type: ignore[arg-type]
            cur = trial
        else:
            lines.append(cur)
            cur = w
    return [*lines, cur] if cur else lines


@dataclass(frozen=True, slots=True)
class Banner:
    image: Image.Image
    layout: Layout
    placeholder: bool


def compose(draft: CopyDraft, facts: ProductFacts, kit: BrandKit, product_image: Image.Image | None = None,
            size: tuple[int, int] = SIZE) -> Banner:  # fmt: skip
    """The banner: product image (cover-fit) or a placeholder, text box in the brand's primary colour with the
    title and selling points in its secondary colour, logo badge in the chosen corner."""
    base = product_image.convert("RGB") if product_image is not None else placeholder_image(facts, kit, size)
    if base.size != size:  # cover-fit: scale to fill, centre-crop
        s = max(size[0] / base.width, size[1] / base.height)
        base = base.resize(
            (max(1, round(base.width * s)), max(1, round(base.height * s))), Image.Resampling.LANCZOS
        )
        x0, y0 = (base.width - size[0]) // 2, (base.height - size[1]) // 2
        base = base.crop((x0, y0, x0 + size[0], y0 + size[1]))
    layout = choose_layout(base, size)
    primary, secondary = _hex(kit.colours[0]), _hex(kit.colours[1])
    over = Image.new("RGBA", size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    tb = layout.text_box
    d.rounded_rectangle(tb, radius=18, fill=(*primary, 225))
    lb = layout.logo_box
    d.rounded_rectangle(lb, radius=10, fill=(*secondary, 235), outline=(*primary, 255), width=3)
    img = Image.alpha_composite(base.convert("RGBA"), over.filter(ImageFilter.SMOOTH))
    d = ImageDraw.Draw(img)
    pad = 18
    tw = tb[2] - tb[0] - 2 * pad
    y = tb[1] + pad
    title_font, point_font = _font(kit, 34), _font(kit, 22)
    for line in _wrap(d, draft.title, title_font, tw)[:3]:
        d.text((tb[0] + pad, y), line, fill=secondary, font=title_font)
        y += 42
    y += 8
    for p in draft.points:
        for line in _wrap(d, f"• {p}", point_font, tw)[:2]:
            if y + 26 > tb[3] - pad:
                break
            d.text((tb[0] + pad, y), line, fill=secondary, font=point_font)
            y += 28
    logo = kit.logo_text or facts.brand or kit.shop_id
    d.text(
        ((lb[0] + lb[2]) // 2, (lb[1] + lb[3]) // 2),
        logo[:14],
        fill=primary,
        font=_font(kit, 20),
        anchor="mm",
    )
    return Banner(img.convert("RGB"), layout, product_image is None)


def save_banner(banner: Banner, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    banner.image.save(path, format="PNG", optimize=True)
    return path


__all__ = [
    "Banner",
    "Layout",
    "WEIGHTS",
    "choose_layout",
    "compose",
    "placeholder_image",
    "saliency",
    "save_banner",
]
