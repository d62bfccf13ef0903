"""The review as people read it: HTML (charts inlined as SVG) and PDF (charts as PNG).

Both are Korean first with the English beside, times in KST, names from the policy
(`gateway.documents`). Every string from the log (employee ids, stated reasons, tickets,
comments) goes through Jinja2's autoescape in HTML and is plain text in the PDF.

The SVG of each chart is inlined as a `data:image/svg+xml` image rather than as an `<svg>`
element: matplotlib styles its shapes with `style` attributes, which the console's
Content-Security-Policy (`style-src 'self'`) would strip from inline SVG, and an SVG shown as
an image can run nothing. The same body serves the standalone document and the console page.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from gateway.documents import Names, PdfWriter, format_kst, render_html
from gateway.policy.model import Policy
from gateway.review.charts import review_charts
from gateway.review.report import Review

TOP_EMPLOYEES_SHOWN = 50


@dataclass(frozen=True)
class _ShownChart:
    key: str
    title_ko: str
    title_en: str
    data_uri: str  # data:image/svg+xml;base64,…


def _overdue_count(content: dict[str, Any]) -> int:
    overdue = content["overdue"]
    return len(overdue["campaigns"]) + sum(int(q["count"]) for q in overdue["queries"])


def _context(review: Review, policy: Policy) -> dict[str, Any]:
    names = Names.of(policy)
    content = review.content
    charts = [_ShownChart(c.key, c.title_ko, c.title_en, "data:image/svg+xml;base64,"
                          + base64.b64encode(c.svg().encode()).decode("ascii"))
              for c in review_charts(content, names)]
    tables = [("by_affiliate", "계열사별", "By affiliate", names.affiliate),
              ("by_system", "시스템별", "By system", names.system),
              ("by_purpose", "목적별", "By purpose", names.purpose)]
    return {"month": review.month, "review": content, "digest": review.digest,
            "signoffs": review.signoffs, "names": names, "charts": charts, "tables": tables,
            "employees": content["volumes"]["by_employee"][:TOP_EMPLOYEES_SHOWN],
            "overdue_count": _overdue_count(content)}


def review_html(review: Review, policy: Policy) -> str:
    """The review as a standalone HTML document (`gateway review --format html`)."""
    return render_html("review.html", **_context(review, policy))


def review_body(review: Review, policy: Policy) -> Markup:
    """The review's content as an HTML fragment for a page that has its own layout (the
    console); rendered by the autoescaping documents environment, hence safe to insert."""
    return Markup(render_html("_review_body.html", **_context(review, policy)))


class _ReviewPdf(PdfWriter):
    def chart(self, title: str, png: bytes, width_mm: float = 170) -> None:
        self.heading(title)
        self._pdf.image(io.BytesIO(png), w=width_mm)


def review_pdf(review: Review, policy: Policy, *, created: datetime | None = None) -> bytes:
    names = Names.of(policy)
    c = review.content
    pdf = _ReviewPdf(title=f"{review.month} 월간 접근기록 점검 (Monthly access review)",
                     subject="개인정보의 안전성 확보조치 기준 제8조",
                     created=created or datetime.now(UTC))
    pdf.pairs([
        ("기간 (period)", f"{format_kst(c['period']['start'])} – {format_kst(c['period']['end'])}"),
        ("비교 기간 (history)", ", ".join(c["history_months"])),
        ("기준 시각 (as of)", format_kst(c["pin"]["as_of"])),
        ("로그 크기 (tree size)", f"{c['pin']['tree_size']:,}"),
        ("요약값 (digest)", review.digest),
        ("접근 (accesses)", f"{c['accesses']:,}"),
        ("거부 / 거절 (denials / refusals)", f"{c['denials']['count']:,} / {c['refusals']['count']:,}"),
        ("파기 미확인 (past use-by, not destroyed)", f"{_overdue_count(c):,}"),
    ])
    pdf.heading("특이 직원 (Employees who stand out)")
    if c["outliers"]:
        pdf.table(["직원 (employee)", "계열사·시스템", "접근", "사유 (reasons)"],
                  [[o["employee"],
                    f"{names.affiliate(o['affiliate']).ko}\n{names.system(o['system']).ko}",
                    f"{o['accesses']:,}",
                    "\n".join(f"{r['ko']}\n  {r['en']}" for r in o["reasons"])]
                   for o in c["outliers"]], widths=(28, 32, 15, 105))
    else:
        pdf.paragraph("기준을 넘은 직원이 없습니다. (No employee crossed a threshold.)")
    for chart in review_charts(c, names):
        pdf.chart(f"{chart.title_ko} ({chart.title_en})", chart.png())
    pdf.heading("대량 추출·캠페인 (Bulk extractions and campaigns)")
    if c["bulk"]["campaigns"]:
        pdf.table(["시각 (KST)", "요청자", "목적", "사유·근거", "제공", "파기"],
                  [[format_kst(x["time"]), f"{x['employee']}\n{x['system']}",
                    names.purpose(x["purpose"]).ko, f"{x['reason']}\n{x['ticket']}",
                    "—" if x["released"] is None else f"{x['released']:,}",
                    "확인됨" if x["destroyed"] else "미확인"] for x in c["bulk"]["campaigns"]],
                  widths=(28, 30, 30, 52, 18, 22))
    else:
        pdf.paragraph("캠페인 없음 (no campaign).")
    pdf.heading("파기 기한 경과·파기 미확인 (Past use-by, destruction not confirmed)")
    rows = [[f"캠페인 {x['id']}", names.affiliate(x["affiliate"]).ko, names.purpose(x["purpose"]).ko,
             format_kst(x["use_by"])] for x in c["overdue"]["campaigns"]]
    rows += [[f"조회 {q['count']:,}건", names.affiliate(q["affiliate"]).ko,
              names.purpose(q["purpose"]).ko, ""] for q in c["overdue"]["queries"]]
    if rows:
        pdf.table(["건 (item)", "계열사", "목적", "기한 (use-by)"], rows, widths=(70, 30, 45, 35))
    else:
        pdf.paragraph("없음 (none).")
    pdf.heading("점검 확인 (Sign-off)")
    if review.signoffs:
        pdf.table(["확인자", "시각 (KST)", "의견 (comment)"],
                  [[str(s["reviewer"]), format_kst(str(s["time"])), str(s["comment"])]
                   for s in review.signoffs], widths=(35, 35, 110))
    else:
        pdf.paragraph("아직 확인되지 않았습니다. (Not signed off yet.)")
    pdf.heading("기준 (Thresholds)")
    pdf.paragraph(" · ".join(f"{k} = {v}" for k, v in c["thresholds"].items())
                  + " — 수정 z-점수 (modified z-score): Iglewicz & Hoaglin (1993).")
    return pdf.output()
