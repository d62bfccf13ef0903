"""PDF documents carry Hangul in an embedded NanumGothic taken from an installed package."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pypdf

from gateway.documents import PdfWriter, korean_font_path

TITLE = "개인신용정보 이용·제공 내역 조회"


def _pdf() -> bytes:
    writer = PdfWriter(title=TITLE, created=datetime(2026, 11, 3, 5, 5, tzinfo=timezone.utc))
    writer.heading("조회 대상 (Customer)")
    writer.pairs([("주민등록번호 (RRN)", "900101-1******")])
    writer.table(["시각 (Time)", "받은 곳 (Recipient)"], [["2026-11-03 14:05 KST", "한빛카드"]])
    return writer.output()


def test_the_font_comes_from_the_installed_package_not_the_system() -> None:
    path = korean_font_path()
    assert path.name == "NanumGothic.ttf"
    assert "site-packages" in path.parts or "dist-packages" in path.parts
    assert path.parent.parent.name == "koreanize_matplotlib"
    assert path.read_bytes()[:4] == b"\x00\x01\x00\x00"  # a TrueType font


def test_hangul_renders_and_reads_back() -> None:
    reader = pypdf.PdfReader(io.BytesIO(_pdf()))
    text = reader.pages[0].extract_text()
    assert TITLE in text
    assert "900101-1******" in text
    assert "한빛카드" in text and "2026-11-03 14:05 KST" in text
    assert reader.metadata is not None and reader.metadata.title == TITLE


def test_the_font_is_embedded() -> None:
    reader = pypdf.PdfReader(io.BytesIO(_pdf()))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    embedded = []
    for ref in fonts.values():
        font = ref.get_object()
        descendant = font["/DescendantFonts"][0].get_object()
        descriptor = descendant["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor  # the TrueType program itself is in the file
        embedded.append(str(font["/BaseFont"]))
    assert embedded and all("NanumGothic" in name for name in embedded)


def test_same_content_same_bytes() -> None:
    assert _pdf() == _pdf()
