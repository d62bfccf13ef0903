"""The history as a Korean document (개인신용정보 이용·제공 내역 조회): HTML and PDF.

Both are rendered from the JSON document (`history_json.page_json`), so the CLI, the API and
a saved file give the same document. Names are the policy's Korean names, times KST, the RRN
masked (`900101-1******`) — never more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.documents import PdfWriter, format_kst, format_kst_date, render_html

TITLE = "개인신용정보 이용·제공 내역 조회"


def history_html(doc: dict[str, Any], *, generated: datetime) -> str:
    return render_html("history.html", doc=doc, generated_kst=format_kst(generated))


def history_pdf(doc: dict[str, Any], *, generated: datetime) -> bytes:
    pdf = PdfWriter(title=TITLE, subject="Access history of personal credit information",
                    created=generated)
    pdf.paragraph("신용정보의 이용 및 보호에 관한 법률 제35조에 따라, 계열사 사이에서 고객님의 정보를 누가, "
                  "언제, 무엇을, 어떤 목적으로 이용하거나 제공받았는지 알려 드립니다. (Under article 35 "
                  "of the Credit Information Use and Protection Act.)")
    customer = doc["customer"]
    who = (f"주민등록번호 {customer['rrn_masked']}" if customer.get("rrn_masked")
           else f"가명 {customer['pseudonym']}")
    period = doc["period"]
    pdf.pairs([
        ("고객 (Customer)", who),
        ("조회 기간 (Period)", f"{period['since_kst']} ~ {period['until_kst']}"),
        ("조회 시각 (Looked up)", f"{format_kst(generated)} (기록 번호 {doc['log_index']})"),
        ("건수 (Entries)", f"{len(doc['entries'])}건"
         + (" (다음 쪽 있음)" if doc.get("next_cursor") else "")
         + (f", 법령에 따라 표시하지 않은 {doc['hidden_total']}건" if doc.get("hidden_total") else "")),
    ])
    pdf.heading("이용·제공 내역 (Uses and provisions)")
    rows = []
    for e in doc["entries"]:
        what = [f"{e['kind']['name_ko']} · {e['outcome']['name_ko']}"]
        if e["released"]:
            what.append("제공: " + ", ".join(f"{r['name_ko']}({r['view']['name_ko']})"
                                             for r in e["released"]))
        if e["withheld"]:
            what.append("제공하지 않음: " + ", ".join(f"{w['name_ko']}({w['reason']['name_ko']})"
                                                  for w in e["withheld"]))
        if e.get("use_by_kst"):
            what.append(f"보유 기한: {e['use_by_kst']}까지")
        recipient = (f"{e['affiliate']['name_ko']}\n{e['system']['name_ko']}"
                     if e.get("affiliate") else "")
        purpose = (f"{e['purpose']['name_ko']}\n{e['purpose'].get('legal_basis') or ''}"
                   if e.get("purpose") else "")
        rows.append([e.get("time_kst") or "", recipient, "\n".join(what), purpose,
                     f"#{e['log_index']}"])
    if rows:
        pdf.table(["시각 (Time)", "받은 곳 (Recipient)", "내용 (What)", "목적·근거 (Purpose)",
                   "기록"], rows, widths=(28, 32, 55, 52, 13), size=7)
    else:
        pdf.paragraph("이 기간에 표시할 내역이 없습니다. (Nothing to list in this period.)")
    if doc["hidden"]:
        pdf.heading("표시하지 않은 내역 (Entries not listed, by law)")
        pdf.table(["건수", "사유 (Reason)", "근거 (Legal basis)"],
                  [[f"{h['count']}건", h["reason_ko"], h["legal_basis"]] for h in doc["hidden"]],
                  widths=(15, 80, 85))
    if doc["campaigns"]:
        pdf.heading("마케팅 캠페인 대상 포함 내역 (Campaigns that included you)")
        pdf.table(["시각 (Time)", "받은 곳", "목적·채널", "보유 기한", "기록"],
                  [[c["time_kst"], c["affiliate"]["name_ko"],
                    f"{c['purpose']['name_ko']} · {c['channel']['name_ko']}",
                    format_kst_date(c["use_by"]), f"#{c['closing_index']}"]
                   for c in doc["campaigns"]], widths=(28, 32, 75, 30, 15))
    pdf.heading("검증 (Verification)")
    pdf.paragraph(f"모든 내역은 서명된 접근 기록(트리 크기 {doc['tree_size']}, {doc['origin']})에 포함되어 "
                  "있음을 증명할 수 있습니다. JSON 형식으로 받아 `gateway-verify history 파일 --key 검증키`로 "
                  "확인하십시오.", size=8)
    return pdf.output()
