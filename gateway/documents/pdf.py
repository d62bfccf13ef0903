"""PDF documents with Hangul, written with fpdf2 and the NanumGothic font of a pip package.

The font comes from `koreanize-matplotlib`, which ships NanumGothic (SIL Open Font License)
inside its package (`koreanize_matplotlib/fonts/`). Its path is found without importing the
package (importing it would reconfigure matplotlib): never a system font, never a download.
fpdf2 embeds the subset of the glyphs used, so the document reads the same everywhere.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from gateway.errors import GatewayError

FONT_PACKAGE = "koreanize_matplotlib"
FONT_FAMILY = "NanumGothic"
_FONT_FILES = {"": "NanumGothic.ttf", "B": "NanumGothicBold.ttf"}
# fontTools reports the font's hinting-source tables it leaves out of the subset: not ours
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)


class FontMissing(GatewayError):
    """The Korean font's package is not installed (install the gateway's dependencies)."""


@lru_cache(maxsize=4)
def korean_font_path(style: str = "") -> Path:
    """The installed NanumGothic TTF (`style` "" regular, "B" bold)."""
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FontMissing(f"package `{FONT_PACKAGE}` is not installed: no korean font for pdf")
    for location in spec.submodule_search_locations:
        path = Path(location) / "fonts" / _FONT_FILES[style]
        if path.is_file():
            return path
    raise FontMissing(f"package `{FONT_PACKAGE}` has no `{_FONT_FILES[style]}`")


class PdfWriter:
    """An A4 document: a title, headings, paragraphs and tables, in NanumGothic."""

    def __init__(self, *, title: str, subject: str = "",
                 created: datetime | None = None) -> None:
        pdf = FPDF(orientation="P", unit="mm", format="A4")
        pdf.set_title(title)
        if subject:
            pdf.set_subject(subject)
        pdf.set_creator("affiliate-gateway")
        if created is not None:  # the document's own time: the same content, the same bytes
            pdf.set_creation_date(created)
        for style in _FONT_FILES:
            pdf.add_font(FONT_FAMILY, style, str(korean_font_path(style)))
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.set_margins(15, 15, 15)
        pdf.add_page()
        self._pdf = pdf
        self.title(title)

    def title(self, text: str) -> None:
        self._pdf.set_font(FONT_FAMILY, "B", 16)
        self._pdf.multi_cell(0, 9, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._pdf.ln(2)

    def heading(self, text: str) -> None:
        self._pdf.ln(2)
        self._pdf.set_font(FONT_FAMILY, "B", 12)
        self._pdf.multi_cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def paragraph(self, text: str, *, size: float = 9.5) -> None:
        self._pdf.set_font(FONT_FAMILY, "", size)
        self._pdf.multi_cell(0, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def pairs(self, rows: Sequence[tuple[str, str]]) -> None:
        """Label: value lines (a document's header block)."""
        self.table(["항목 (Item)", "내용 (Value)"], [list(r) for r in rows], widths=(45, 135))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], *,
              widths: Sequence[float] | None = None, size: float = 8) -> None:
        self._pdf.set_font(FONT_FAMILY, "", size)
        with self._pdf.table(col_widths=tuple(widths) if widths else None,
                             text_align="LEFT", line_height=4.2,
                             ) as table:
            head = table.row()
            for text in headers:
                head.cell(text)
            for values in rows:
                row = table.row()
                for text in values:
                    row.cell(text)
        self._pdf.ln(2)

    def output(self) -> bytes:
        return bytes(self._pdf.output())
