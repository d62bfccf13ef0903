"""The console's words in Korean (first) and English, and times in KST, labelled.

Pages ask for a message by key: `t("signin.title")`. A page added by another package adds
its own keys with `add_messages({...})` at import time (a key defined twice is an error).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

LANGS = ("ko", "en")
KST = timezone(timedelta(hours=9), "KST")

_MESSAGES: dict[str, tuple[str, str]] = {
    "app.title": ("한빛금융그룹 정보제공 게이트웨이 콘솔", "Hanbit gateway console"),
    "nav.home": ("첫 화면", "Home"),
    "nav.log": ("접근 기록", "Access log"),
    "nav.timeline": ("고객 제공 이력", "Customer timeline"),
    "nav.docs": ("API 문서", "API docs"),
    "nav.signout": ("로그아웃", "Sign out"),
    "nav.lang": ("English", "한국어"),
    "nav.signed_in_as": ("로그인: {name} ({role})", "Signed in: {name} ({role})"),
    "signin.title": ("로그인", "Sign in"),
    "signin.username": ("아이디", "User name"),
    "signin.password": ("비밀번호", "Password"),
    "signin.code": ("인증 코드 (OTP 6자리, 해당 역할만)",
                    "Authentication code (6-digit OTP, where your role needs one)"),
    "signin.submit": ("로그인", "Sign in"),
    "signin.failed": ("아이디, 비밀번호 또는 인증 코드가 올바르지 않습니다.",
                      "The user name, password or authentication code is not correct."),
    "signin.throttled": ("로그인 시도가 너무 많습니다. {seconds}초 후에 다시 시도하세요.",
                         "Too many sign-in attempts. Try again in {seconds} seconds."),
    "flash.signed_out": ("로그아웃했습니다.", "You are signed out."),
    "flash.signed_in": ("로그인했습니다.", "You are signed in."),
    "flash.session_ended": ("로그인이 필요합니다 (세션이 끝났거나 로그인하지 않았습니다).",
                            "Please sign in (your session ended or you are not signed in)."),
    "error.forbidden.title": ("접근 권한이 없습니다", "Not allowed"),
    "error.forbidden.body": ("역할 `{role}`(으)로는 이 화면을 열 수 없습니다. 이 시도는 기록되었습니다.",
                             "Your role `{role}` may not open this page. The attempt is recorded."),
    "error.csrf.title": ("요청을 확인할 수 없습니다", "Request not verified"),
    "error.csrf.body": ("양식이 만료되었거나 다른 사이트에서 보낸 요청입니다. 화면을 새로 열어 "
                        "다시 시도하세요.",
                        "The form has expired or was sent from another site. Reload the page "
                        "and try again."),
    "error.log.title": ("기록할 수 없어 보여드릴 수 없습니다", "Cannot be shown: not recorded"),
    "error.log.body": ("접근 기록을 남길 수 없어 화면을 보여드리지 않았습니다. 잠시 후 다시 "
                       "시도하세요.",
                       "The access could not be recorded, so nothing was shown. Try again "
                       "shortly."),
    "error.store.title": ("저장소를 사용할 수 없습니다", "Data store unavailable"),
    "error.store.body": ("데이터베이스에 연결하거나 읽고 쓸 수 없어 화면을 보여드리지 않았습니다. "
                         "잠시 후 다시 시도하세요. 계속되면 운영 담당자에게 알려 주세요.",
                         "The database could not be reached, read or written, so nothing was "
                         "shown. Try again shortly; if it persists, tell the operators."),
    "error.internal.title": ("예기치 않은 오류", "Unexpected error"),
    "error.internal.body": ("게이트웨이에 예기치 않은 오류가 있어 화면을 보여드리지 않았습니다. "
                            "운영 담당자에게 요청 번호 {request_id}을(를) 알려 주세요.",
                            "The gateway met an unexpected error, so nothing was shown. Tell "
                            "the operators the request number {request_id}."),
    "home.title": ("첫 화면", "Home"),
    "home.checkpoint": ("현재 체크포인트", "Current checkpoint"),
    "home.no_checkpoint": ("아직 체크포인트가 없습니다.", "No checkpoint yet."),
    "home.alerts": ("최근 경보", "Recent alerts"),
    "home.no_alerts": ("최근 경보가 없습니다.", "No recent alerts."),
    "home.alerts_scope": ("최근 기록 {count:,}건에서 찾은 경보", "Alerts in the latest {count:,} records"),
    "cp.origin": ("로그 이름", "Log origin"),
    "cp.size": ("기록 수 (트리 크기)", "Records (tree size)"),
    "cp.root": ("루트 해시", "Root hash"),
    "cp.signed_at": ("서명 시각", "Signed at"),
    "alert.time": ("시각", "Time"),
    "alert.who": ("대상", "Who"),
    "alert.what": ("내용", "What"),
    "alert.field.measure": ("측정 항목", "measure"),
    "alert.field.count": ("도달 건수", "count reached"),
    "alert.field.threshold": ("경보 기준", "alert threshold"),
    "alert.field.limit": ("한도", "limit"),
    "alert.field.scope": ("범위", "scope"),
    "alert.field.window_start": ("구간 시작", "window start"),
    "alert.field.window_end": ("구간 끝", "window end"),
    "alert.field.affiliate": ("계열사", "affiliate"),
    "alert.field.system": ("시스템", "system"),
    "alert.field.employee": ("직원", "employee"),
    "log.title": ("접근 기록", "Access log"),
    "log.history": ("체크포인트 이력 (최근 {count}개)", "Checkpoint history (latest {count})"),
    "log.export": ("반출 (감독기관 제출용 아카이브)", "Export (archive for a regulator)"),
    "log.export.who": ("반출자 (이름·소속)", "Exported by (name, unit)"),
    "log.export.why": ("반출 사유", "Reason"),
    "log.export.since": ("시작 (KST, 선택)", "From (KST, optional)"),
    "log.export.until": ("끝 (KST, 선택, 제외)", "Until (KST, optional, exclusive)"),
    "log.export.submit": ("반출 파일 만들기", "Create the export"),
    "log.export.required": ("반출자와 사유는 꼭 적어야 합니다.",
                            "Who exports and why are both required."),
    "log.export.rrn": ("입력란에 주민등록번호로 보이는 값이 있어 받지 않았습니다.",
                       "A field holds what reads as a resident registration number: refused."),
    "log.export.bad_time": ("시각은 2026-11-01 또는 2026-11-01 09:00 형식으로 적으세요.",
                            "Write times as 2026-11-01 or 2026-11-01 09:00."),
    "log.export.failed": ("반출하지 못했습니다: {reason}", "The export failed: {reason}"),
    "log.export.not_allowed": ("역할상 반출할 수 없습니다.", "Your role may not export."),
    "log.verify": ("반출 아카이브 검증", "Verify an export archive"),
    "log.verify.file": ("아카이브 파일 (.tar 또는 .tar.gz)", "Archive file (.tar or .tar.gz)"),
    "log.verify.submit": ("검증하기", "Verify"),
    "log.verify.ok": ("검증 성공: 모든 검사를 통과했습니다.", "Verified: every check holds."),
    "log.verify.failed": ("검증 실패: 아래 문제가 발견되었습니다.",
                          "Verification failed: the problems below were found."),
    "log.verify.summary": ("요약", "Summary"),
    "log.verify.findings": ("발견된 문제", "Findings"),
    "log.verify.trusted": ("신뢰하는 키: 이 게이트웨이가 공개한 로그 키",
                           "Trusted keys: this gateway's published log keys"),
    "log.verify.empty": ("파일을 고르세요.", "Choose a file."),
    "timeline.title": ("고객 제공 이력", "Customer timeline"),
    "timeline.rrn": ("주민등록번호 (화면과 기록에는 가려서 남습니다)",
                     "Resident registration number (masked on screen and in the record)"),
    "timeline.submit": ("조회", "Look up"),
    "timeline.bad_rrn": ("주민등록번호 형식이 올바르지 않습니다.",
                         "That is not a valid resident registration number."),
    "timeline.unknown": ("그룹에 등록된 고객이 아닙니다: {masked}",
                         "Not a customer of the group: {masked}"),
    "timeline.customer": ("고객: {masked}", "Customer: {masked}"),
    "timeline.recorded": ("이 조회는 접근 기록 {index:,}번으로 남았습니다 (조회자: {employee}).",
                          "This look-up is access record {index:,} (by {employee})."),
    "timeline.empty": ("이 고객의 정보를 제공한 기록이 없습니다.",
                       "No release of this customer's data is recorded."),
    "timeline.print": ("인쇄", "Print"),
    "timeline.when": ("시각", "When"),
    "timeline.who": ("받은 곳", "Recipient"),
    "timeline.what": ("제공 항목", "What"),
    "timeline.why": ("목적", "Why"),
    "timeline.outcome": ("결과", "Outcome"),
    "timeline.index": ("기록 번호", "Record"),
    "timeline.unavailable": ("고객 이력 기능이 이 설치본에 없습니다.",
                             "The customer history is not available in this installation."),
    # record kinds of the console, as a customer's timeline names them
    "kind.console.view": ("콘솔 화면 조회 (상담원·검사역)", "looked up in the console"),
    "kind.console.export": ("접근 기록 반출", "access log exported"),
    "common.kst_note": ("모든 시각은 한국 표준시(KST)입니다.", "All times are in KST."),
    "common.none": ("없음", "none"),
}


def add_messages(messages: Mapping[str, tuple[str, str]]) -> None:
    """Add a page's own messages (key → (Korean, English)); keys must be new."""
    clash = sorted(set(messages) & set(_MESSAGES))
    if clash:
        raise ValueError(f"console message keys defined twice: {', '.join(clash)}")
    _MESSAGES.update(messages)


def translate(lang: str, key: str, **params: object) -> str:
    """The message in `lang` (Korean unless `en`); an unknown key is shown as itself."""
    pair = _MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**params) if params else text


def known(key: str) -> bool:
    return key in _MESSAGES


def kst(value: datetime | str | None) -> str:
    """`2026-12-05 14:03:22 KST` from an aware datetime or an RFC 3339 string ('' if none)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S KST")
