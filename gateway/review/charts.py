"""The review's charts, drawn by matplotlib: SVG to inline in HTML, PNG to place in PDF.

Object-oriented matplotlib only (`Figure`, no pyplot): no global backend state, safe in a
server thread. Text is NanumGothic from the package `gateway.documents` takes it from, drawn
as paths in SVG (`svg.fonttype: path`), so a page shows Hangul without any web font and
without a download. Labels that come from records (employee ids) reach the SVG only as glyph
paths and XML-escaped comments; the ids are pinned (`svg.hashsalt`) so the same review gives
the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure

from gateway.documents import Names, korean_font_path

WEEKDAYS_KO = ("월", "화", "수", "목", "금", "토", "일")
TOP_EMPLOYEES = 15
BAR = "#3a6ea5"
FLAGGED = "#b3261e"
# `axes.unicode_minus` off: NanumGothic has no U+2212, and an empty month's axis has negative
# ticks (matplotlib warned of the missing glyph on every such chart)
_RC: Any = {"svg.fonttype": "path", "svg.hashsalt": "gateway-review", "font.size": 9,
       "axes.spines.top": False, "axes.spines.right": False, "axes.unicode_minus": False}


@dataclass(frozen=True)
class Chart:
    key: str
    title_ko: str
    title_en: str
    figure: Figure

    def svg(self) -> str:
        """The chart as an `<svg>` element to inline (XML prolog and doctype dropped)."""
        out = io.StringIO()
        with matplotlib.rc_context(_RC):
            self.figure.savefig(out, format="svg", bbox_inches="tight",
                                metadata={"Date": None, "Creator": None})
        text = out.getvalue()
        return text[text.index("<svg"):]

    def png(self, dpi: int = 150) -> bytes:
        out = io.BytesIO()
        with matplotlib.rc_context(_RC):
            self.figure.savefig(out, format="png", dpi=dpi, bbox_inches="tight",
                                metadata={"Software": None})
        return out.getvalue()


@lru_cache(maxsize=1)
def _font_family() -> str:
    path = korean_font_path()
    font_manager.fontManager.addfont(str(path))
    return str(font_manager.FontProperties(fname=str(path)).get_name())


def _styled() -> Any:  # matplotlib types rc keys as a Literal union: Any keeps it readable
    return {**_RC, "font.family": _font_family()}


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_styled()):
        return Figure(figsize=(width, height), layout="constrained")


def _barh(key: str, title_ko: str, title_en: str, labels: Sequence[str],
          values: Sequence[int], colors: Sequence[str] | None = None) -> Chart:
    fig = _figure(7.5, max(1.6, 0.32 * len(labels) + 0.8))
    with matplotlib.rc_context(_styled()):
        ax = fig.add_subplot()
        positions = list(range(len(labels)))[::-1]  # largest on top
        ax.barh(positions, values, color=list(colors) if colors else BAR)
        ax.set_yticks(positions, labels=list(labels))
        ax.set_xlabel("건수 (count)")
        for y, v in zip(positions, values, strict=True):
            ax.annotate(f"{v:,}", (v, y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8)
        ax.margins(x=0.12)
    return Chart(key, title_ko, title_en, fig)


def _ranked_chart(key: str, title_ko: str, title_en: str, rows: Sequence[dict[str, Any]],
                  label: Callable[[str], str]) -> Chart | None:
    if not rows:
        return None
    return _barh(key, title_ko, title_en, [label(r["id"]) for r in rows],
                 [int(r["count"]) for r in rows])


def heatmap(counts: Sequence[Sequence[int]]) -> Chart:
    fig = _figure(8.5, 3.2)
    with matplotlib.rc_context(_styled()):
        ax = fig.add_subplot()
        image = ax.imshow([list(row) for row in counts], aspect="auto", cmap="YlOrRd",
                          interpolation="nearest")
        ax.set_yticks(range(7), labels=list(WEEKDAYS_KO))
        ax.set_xticks(range(24), labels=[f"{h:02d}" for h in range(24)], fontsize=7)
        ax.set_xlabel("시각 (hour, KST)")
        ax.spines[:].set_visible(False)
        fig.colorbar(image, ax=ax, label="접근 건수 (accesses)", shrink=0.9)
    return Chart("heatmap", "요일 × 시간대 접근 분포 (KST)",
                 "Accesses by weekday and hour (KST)", fig)


def review_charts(content: dict[str, Any], names: Names) -> list[Chart]:
    """Every chart of a review's content, in the order the documents show them."""
    volumes = content["volumes"]
    charts: list[Chart | None] = [
        _ranked_chart("by_affiliate", "계열사별 접근 건수", "Accesses by affiliate",
                      volumes["by_affiliate"], lambda i: names.affiliate(i).ko),
        _ranked_chart("by_system", "시스템별 접근 건수", "Accesses by system",
                      volumes["by_system"], lambda i: names.system(i).ko),
        _ranked_chart("by_purpose", "목적별 접근 건수", "Accesses by purpose",
                      volumes["by_purpose"], lambda i: names.purpose(i).ko),
    ]
    employees = volumes["by_employee"][:TOP_EMPLOYEES]
    if employees:
        flagged = {(o["affiliate"], o["employee"]) for o in content["outliers"]}
        charts.append(_barh(
            "by_employee", f"직원별 접근 건수 (상위 {len(employees)}명, 빨강: 특이)",
            f"Accesses by employee (top {len(employees)}; red: stands out)",
            [f"{e['employee']} ({names.affiliate(e['affiliate']).ko})" for e in employees],
            [int(e["accesses"]) for e in employees],
            [FLAGGED if (e["affiliate"], e["employee"]) in flagged else BAR
             for e in employees]))
    charts.append(heatmap(content["heatmap"]["counts"]))
    reasons = [(f"거부: {names.reason(r['id']).ko}", int(r["count"]))
               for r in content["denials"]["by_reason"]]
    reasons += [(f"거절: {r['id']}", int(r["count"])) for r in content["refusals"]["by_problem"]]
    if reasons:
        charts.append(_barh("denials", "거부·거절 사유별 건수", "Denials and refusals by reason",
                            [r[0] for r in reasons], [r[1] for r in reasons]))
    return [c for c in charts if c is not None]
