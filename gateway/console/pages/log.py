"""The log page: checkpoint history, export for a regulator, verification of an archive.

The export runs the same code as `gateway log export` (`accesslog.export.export_archive`),
which appends its own `log.export` record; the console adds a `console.export` record with
who asked and why, and only then hands the archive over (fail closed: no record, no file).
An uploaded archive is checked by the regulator's own verifier (`gateway_verify`), trusting
this gateway's published log keys; its findings are shown in Korean (or English).
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from gateway.accesslog.export import export_archive
from gateway.accesslog.export_select import ExportFilters
from gateway.accesslog.keyring import published_verifier_keys
from gateway.console import logview
from gateway.console.i18n import KST
from gateway.console.web import Opens, Page, add_nav
from gateway.errors import GatewayError, StoreUnavailable
from gateway.freetext import NationalIdInText, refuse_national_id
from gateway_verify.checks import load_trusted, verify_archive
from gateway_verify.errors import VerifyError
from gateway_verify.render import finding, summary_en, summary_ko

router = APIRouter(prefix="/console/log", tags=["console"], include_in_schema=False)
add_nav("log", "/console/log", "nav.log")

HISTORY = 20
MAX_TEXT = 200
UPLOAD_CHUNK = 1 << 20
LogPage = Annotated[Page, Depends(Opens("log"))]
ExportPage = Annotated[Page, Depends(Opens("log_export"))]


def _verifier_keys(page: Page) -> list[str]:
    svc = page.services
    published = published_verifier_keys(Path(svc.settings.public_keys_dir))
    return list(dict.fromkeys([svc.signer.verifier_key(), *published.values()]))


async def _render(page: Page, *, status: int = 200, **extra: Any) -> Response:
    history = await to_thread.run_sync(logview.checkpoints, page.services, HISTORY)
    context: dict[str, Any] = {"history": history, "export_error": None, "export_form": {},
                               "verify": None}
    context.update(extra)
    return page.render("log.html", status=status, may_export=page.may_open("log_export"),
                       history_count=HISTORY, **context)


@router.get("", response_class=HTMLResponse)
async def log_page(page: LogPage) -> Response:
    return await _render(page)


def _kst_time(text: str) -> str | None:
    """`2026-11-01` or `2026-11-01 09:00` in KST → RFC 3339; '' → None; ValueError if bad."""
    text = text.strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=KST).isoformat()
        except ValueError:
            continue
    raise ValueError("not a time")


@router.post("/export", response_class=HTMLResponse)
async def export(page: ExportPage) -> Response:
    form = await page.form()
    fields = {name: str(form.get(name) or "")[:MAX_TEXT]
              for name in ("who", "why", "since", "until")}
    who, why = fields["who"].strip(), fields["why"].strip()
    if not who or not why:
        return await _render(page, status=422, export_error=page.t("log.export.required"),
                             export_form=fields)
    try:
        refuse_national_id("who", who)
        refuse_national_id("why", why)
    except NationalIdInText:
        fields["who"] = fields["why"] = ""  # never shown back
        return await _render(page, status=422, export_error=page.t("log.export.rrn"),
                             export_form=fields)
    try:
        filters = ExportFilters.of(since=_kst_time(fields["since"]),
                                   until=_kst_time(fields["until"]))
    except (ValueError, GatewayError):
        return await _render(page, status=422, export_error=page.t("log.export.bad_time"),
                             export_form=fields)
    svc = page.services
    try:
        folder = Path(tempfile.mkdtemp(prefix="console-export-", dir=svc.settings.data_dir))
    except OSError:  # a full disk, a read-only data folder: nothing written, nothing sent
        failed = StoreUnavailable("export folder unavailable")
        return await _render(page, status=failed.status, export_form=fields,
                             export_error=page.t("log.export.failed", reason=failed.title))
    name = f"access-log-export-{page.now.astimezone(KST):%Y%m%d-%H%M%S}-KST.tar.gz"
    out = folder / name

    def work() -> int:
        result = export_archive(svc.access_log, svc.log_engine, out,
                                verifier_keys=_verifier_keys(page), exported_by=who,
                                now=page.now, filters=filters)
        return result.export_index

    try:
        export_index = await to_thread.run_sync(work)
        await page.record("console.export", export_index=export_index, exported_by=who,
                          reason=why)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, OSError):  # the archive could not be written (a full disk)
            exc = StoreUnavailable("export archive could not be written")
        if isinstance(exc, GatewayError):
            return await _render(page, status=exc.status,
                                 export_error=page.t("log.export.failed", reason=exc.title),
                                 export_form=fields)
        raise
    return FileResponse(out, media_type="application/gzip", filename=name,
                        headers={"Cache-Control": "no-store"},
                        background=BackgroundTask(shutil.rmtree, folder, True))


async def _save(upload: UploadFile, path: Path) -> int:
    size = 0
    with path.open("wb") as out:
        while chunk := await upload.read(UPLOAD_CHUNK):
            size += len(chunk)
            out.write(chunk)
    return size


@router.post("/verify", response_class=HTMLResponse)
async def verify(page: LogPage) -> Response:
    form = await page.form()
    upload = form.get("archive")
    if not isinstance(upload, UploadFile):
        return await _render(page, status=422, verify={"error": page.t("log.verify.empty")})
    svc = page.services
    folder = Path(tempfile.mkdtemp(prefix="console-verify-", dir=svc.settings.data_dir))
    try:
        path = folder / f"upload-{secrets.token_hex(8)}.tar"
        if await _save(upload, path) == 0:
            return await _render(page, status=422, verify={"error": page.t("log.verify.empty")})

        shown_name = (upload.filename or "archive")[:MAX_TEXT]

        def check() -> dict[str, Any]:
            try:
                trusted = load_trusted(_verifier_keys(page), [])
            except VerifyError as exc:
                return {"ok": False, "findings": [finding(str(exc), page.lang)], "summary": []}
            report = verify_archive(path, trusted)
            summary = summary_ko(report) if page.lang == "ko" else summary_en(report)
            # the archive's path is ours (a temporary file): show the name that was uploaded
            summary = [line for line in summary if not line.startswith(("archive:", "아카이브:"))]
            # findings name the file: the one uploaded, not our temporary copy
            findings = [finding(problem.replace(str(path), shown_name), page.lang)
                        for problem in report.problems]
            if report.unlisted:
                findings.append(f"… +{report.unlisted:,}")
            return {"ok": report.ok, "findings": findings, "summary": summary}

        result = await to_thread.run_sync(check)
    finally:
        await upload.close()
        shutil.rmtree(folder, ignore_errors=True)
    result["filename"] = shown_name
    return await _render(page, status=200, verify=result)
