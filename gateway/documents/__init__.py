"""Korean documents for people: KST times, policy names, masked RRNs, HTML and PDF.

    from gateway.documents import Names, render_html, PdfWriter, format_kst

    names = Names.of(policy)
    html = render_html("history.html", names=names, history=...)
    pdf = PdfWriter(title="개인신용정보 이용·제공 내역 조회"); pdf.heading(...); pdf.output()

Everything a customer, a channel agent or an officer reads is Korean first with the English
name beside it, times in KST labelled "KST" and RRNs masked (`900101-1******`).
"""

from __future__ import annotations

from gateway.documents.kst import KST, format_kst, format_kst_date, parse_record_time
from gateway.documents.masking import masked_rrn
from gateway.documents.names import Name, Names
from gateway.documents.pdf import PdfWriter, korean_font_path
from gateway.documents.templating import environment, render_html

__all__ = ["KST", "Name", "Names", "PdfWriter", "environment", "format_kst", "format_kst_date",
           "korean_font_path", "masked_rrn", "parse_record_time", "render_html"]
