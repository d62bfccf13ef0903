"""The console's Korean font: NanumGothic (SIL Open Font License), from a pip package.

`koreanize-matplotlib` ships the TTF files; they are found without importing the package
(which would import matplotlib). The files carry empty VTT hinting-source tables (`TSI*`),
which browsers' font sanitizer (OTS) rejects, so the tables are dropped once per process with
fontTools before the font is served. Nothing is downloaded: pages look the same on a machine
with no Korean font.
"""

from __future__ import annotations

import importlib.util
import io
import threading
from pathlib import Path

FONTS = ("NanumGothic.ttf", "NanumGothicBold.ttf")
_cache: dict[str, bytes] = {}
_lock = threading.Lock()


def fonts_dir() -> Path | None:
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "fonts"
    return folder if all((folder / name).is_file() for name in FONTS) else None


def font_bytes(name: str) -> bytes | None:
    """The font `name` (one of `FONTS`) as browsers accept it; None if unknown or missing."""
    if name not in FONTS:
        return None
    with _lock:
        if name not in _cache:
            folder = fonts_dir()
            if folder is None:
                return None
            from fontTools.ttLib import TTFont

            font = TTFont(folder / name)
            for tag in [t for t in font.keys() if t.startswith("TSI")]:
                del font[tag]
            out = io.BytesIO()
            font.save(out)
            _cache[name] = out.getvalue()
        return _cache[name]
