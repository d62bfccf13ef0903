"""Every problem `policy check` can report: a stable code, a severity and one line in English
and in Korean, so that a privacy officer can read it and tooling can key on the code."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.policy.problems import Problem, Severity
from pseudonymizer.rrn import contains_national_id


@dataclass(frozen=True, slots=True)
class Hint:
    """What to write instead, appended to a problem's message in both languages."""

    en: str
    ko: str


def use_id(ident: str, name: str) -> Hint:
    """A name was written where the id belongs: "use the id `card` (한빛카드)"."""
    return Hint(f"use the id `{ident}` ({name})", f"id `{ident}`({name})을(를) 쓰세요")


def did_you_mean(ident: str, name: str | None = None) -> Hint:
    shown = f"`{ident}` ({name})" if name and name != ident else f"`{ident}`"
    return Hint(f"did you mean {shown}?", f"혹시 {shown}을(를) 쓰려던 것인가요?")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().replace(" ", "").replace("_", "-")


def suggest(written: str, known: Mapping[str, Iterable[str]]) -> Hint | None:
    """The known id closest to `written`, compared with each id and its names (Korean and
    English): an exact name is "use the id", a near one "did you mean" (difflib, ratio ≥ 0.6;
    no guess when two ids are as close).

    `known` maps an id to its names (may be empty)."""
    if not isinstance(written, str) or not written.strip() or not known:
        return None
    target = _fold(written)
    label = {ident: next(iter(names), None) for ident, names in
             ((i, [n for n in ns if n]) for i, ns in known.items())}
    spellings: dict[str, str] = {}
    for ident, names in known.items():
        for spelling in (ident, *names):
            if spelling:
                spellings.setdefault(_fold(spelling), ident)
    exact = spellings.get(target)
    if exact is not None:
        name = label[exact]
        return use_id(exact, name) if name and _fold(exact) != target else did_you_mean(exact, name)
    scored = sorted(((difflib.SequenceMatcher(None, target, folded).ratio(), ident)
                     for folded, ident in spellings.items()), reverse=True)
    best = [(score, ident) for score, ident in scored if score >= 0.6]
    if best:
        if any(score == best[0][0] and ident != best[0][1] for score, ident in best[1:]):
            return None  # two ids as close as each other: no guess
        ident = best[0][1]
    else:  # a name written in part, e.g. `한빛카드` for `한빛카드 주식회사`
        parts = {i for folded, i in spellings.items() if len(target) >= 2 and len(folded) >= 2
                 and (target in folded or folded in target)}
        if len(parts) != 1:
            return None
        (ident,) = parts
    return did_you_mean(ident, label[ident])


@dataclass(frozen=True, slots=True)
class Code:
    code: str  # stable: tooling and runbooks key on it; never reuse a retired code
    severity: Severity
    en: str  # str.format template: one line, lowercase, names in backticks
    ko: str  # the same in plain Korean for the officer

    def at(self, file: str, line: int, column: int, /, hint: Hint | None = None,
           **params: Any) -> Problem:
        en = self.en.format(**_shown(params, "(a national id number)"))
        ko = self.ko.format(**_shown(params, "(주민등록번호)"))
        if hint is not None:
            en, ko = f"{en}: {hint.en}", f"{ko} — {hint.ko}"
        return Problem(file, line, column, en, code=self.code, severity=self.severity,
                       message_ko=ko)


# What would break a problem out of its one line or reorder it on screen: C0 and C1 controls,
# line and paragraph separators, bidi marks and overrides (a key may be any yaml string).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _shown(params: Mapping[str, Any], placeholder: str) -> dict[str, Any]:
    """`params` as a problem may show them: a text holding a national id number replaced (a
    problem names what was written, never a resident number written by mistake), and control
    or line-breaking characters written as `\\uXXXX`."""
    return {name: placeholder if contains_national_id(str(value))
            else _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
            if isinstance(value, str) else value
            for name, value in params.items()}


def _error(code: str, en: str, ko: str) -> Code:
    return Code(code, "error", en, ko)


def _warning(code: str, en: str, ko: str) -> Code:
    return Code(code, "warning", en, ko)


# --- files and YAML ------------------------------------------------------------------------------
FILE_UNREADABLE = _error("P001", "policy file is missing or unreadable",
                         "정책 파일이 없거나 읽을 수 없습니다")
NOT_UTF8 = _error("P002", "policy file is not utf-8 text",
                  "정책 파일이 UTF-8 텍스트가 아닙니다 (다른 인코딩으로 저장됨)")
YAML_SYNTAX = _error("P003", "{detail}",
                     "YAML 문법 오류입니다 — 들여쓰기·콜론·괄호를 확인하세요 ({detail})")
EMPTY_FILE = _error("P004", "file is empty", "파일이 비어 있습니다")
DUPLICATE_KEY = _error("P005", "{detail}",
                       "한 항목 안에 같은 키가 두 번 있습니다 — 나중 값이 조용히 무시되지 않도록 "
                       "하나를 지우세요 ({detail})")

# --- shape of each entry (schema) ------------------------------------------------------------------
UNKNOWN_FIELD = _error("P010", "unknown field `{field}`",
                       "알 수 없는 항목 `{field}`입니다 — 철자를 확인하세요")
MISSING_FIELD = _error("P011", "missing field `{field}`", "필수 항목 `{field}`이(가) 없습니다")
INVALID_VALUE = _error("P012", "`{field}`: {detail}",
                       "`{field}`의 값이 올바르지 않습니다 ({detail_ko})")
NOT_AN_ID = _error("P014", "`{field}` takes an id: small latin letters, digits, `-` and `_`, "
                             "starting with a letter, at most 64",
                   "`{field}`에는 이름이 아니라 id를 씁니다 (영문 소문자로 시작하고 영문 소문자·숫자·"
                   "`-`·`_`만, 64자까지)")
DUPLICATE_ID = _error("P013", "duplicate {kind} id `{ident}` (first at line {first})",
                      "{kind_ko} id `{ident}`이(가) 중복됩니다 (처음 나온 줄: {first})")

# --- references between entries ------------------------------------------------------------------
UNKNOWN_AFFILIATE = _error("P020", "unknown affiliate `{ident}`",
                           "계열사 `{ident}`은(는) affiliates.yaml에 없습니다")
UNKNOWN_PURPOSE = _error("P021", "unknown purpose `{ident}`",
                         "목적 `{ident}`은(는) purposes.yaml에 없습니다")
UNKNOWN_ATTRIBUTE = _error("P022", "unknown attribute `{ident}`",
                           "항목 `{ident}`은(는) attributes.yaml에 없습니다")
UNKNOWN_SYSTEM = _error("P023", "unknown system `{ident}`",
                        "시스템 `{ident}`은(는) affiliates.yaml에 없습니다")
VIEW_NOT_DEFINED = _error("P024", "attribute `{attribute}` has no view `{view}` (views: {choices})",
                          "항목 `{attribute}`에는 `{view}` 형태가 없습니다 (가능한 형태: {choices})")
FOREIGN_SYSTEM = _error("P025", "system `{system}` belongs to `{owner}`, not to recipient "
                                "`{recipient}`",
                        "시스템 `{system}`은(는) `{owner}` 소속이라 받는 계열사 `{recipient}`의 "
                        "규칙에 쓸 수 없습니다")
UNKNOWN_VIEW_KIND = _error("P026", "view `{view}`: unknown view kind `{kind}` (known: {known})",
                           "형태 `{view}`의 종류 `{kind}`은(는) 없는 종류입니다 (가능한 종류: {known})")
VIEW_TYPE_MISMATCH = _error("P027", "view `{view}`: {detail}",
                            "형태 `{view}`은(는) 이 항목의 저장 형식에 쓸 수 없습니다 ({detail})")
RRN_VIEW = _error("P028", "attribute `{attribute}` may only have views of kind `masked` with style "
                          "`rrn` or of kind `exact`, not `{view}`",
                  "주민등록번호 `{attribute}`의 형태는 rrn 방식 가림(masked) 또는 재식별용 원본(exact)만 "
                  "둘 수 있습니다 (`{view}` 불가)")

UNKNOWN_SCHEME = _error("P029", "unknown pseudonym scheme `{scheme}` (known: {known})",
                       "가명 방식 `{scheme}`은(는) 없는 방식입니다 (가능한 방식: {known})")

# --- purposes -------------------------------------------------------------------------------------
MARKETING_WITHOUT_CONSENT = _error(
    "P030", "marketing purpose `{purpose}` must have `consent_required: true`",
    "마케팅 목적 `{purpose}`은(는) 고객 동의가 필요합니다 (개인정보 보호법 제22조) — "
    "`consent_required: true`로 하세요")
MARKETING_WITHOUT_CHANNEL = _error(
    "P031", "marketing purpose `{purpose}` must name a `channel`",
    "마케팅 목적 `{purpose}`에는 연락 채널(`channel`)이 있어야 합니다 (정보통신망법 제50조)")
CHANNEL_NOT_MARKETING = _error(
    "P032", "`channel` applies only to marketing purposes, not `{purpose}`",
    "연락 채널(`channel`)은 마케팅 목적에만 씁니다 (`{purpose}`은(는) 마케팅 목적이 아님)")
NO_LEGAL_BASIS = _error(
    "P033", "`legal_basis`: a purpose needs at least one legal basis (law and article)",
    "목적에 법적 근거(`legal_basis`: 법률과 조문)가 하나 이상 있어야 합니다")
UNKNOWN_CHANNEL = _error(
    "P035", "unknown contact channel `{channel}` (known: {known})",
    "연락 채널 `{channel}`은(는) 없는 채널입니다 (가능한 채널: {known}) — 예전 `phone`은 "
    "`agent_call`(상담원 전화)입니다")
INVALID_CAP = _error(
    "P036", "channel `{channel}`: `cap` needs `max` (1 to 1000 contacts) and `window_days` "
            "(1 to 365 days), and nothing else",
    "채널 `{channel}`의 연락 횟수 제한(`cap`)에는 `max`(1~1000회)와 `window_days`(1~365일)만 "
    "적을 수 있습니다 — 예: `cap: {{max: 2, window_days: 7}}`")
SEGMENT_VIEW_NOT_FILTERABLE = _error(
    "P037", "segment `{segment}`: view `{view}` of `{attribute}` cannot be filtered on: only "
            "boolean, bucketed and generalized views",
    "대상 조건 `{segment}`: `{attribute}`의 `{view}` 형태로는 거를 수 없습니다 — 예/아니오, 구간, "
    "일반화(연령대·시/도) 형태만 됩니다")
SEGMENT_PURPOSE_NOT_MARKETING = _error(
    "P038", "segment `{segment}`: purpose `{purpose}` is not a marketing purpose",
    "대상 조건 `{segment}`: 목적 `{purpose}`은(는) 마케팅 목적이 아니라 캠페인을 만들 수 없습니다")
CAMPAIGN_RETENTION_48_2 = _error(
    "P039", "purpose `{purpose}` cites 금융지주회사법 제48조의2 and may run campaigns: "
            "`retention_days` must be at most 30, not {days}",
    "목적 `{purpose}`은(는) 금융지주회사법 제48조의2(내부 경영관리)를 근거로 캠페인에 쓰이므로 보관 "
    "기간(`retention_days`)은 30일 이하여야 합니다 (현재 {days}일)")
NO_RETENTION = _error(
    "P034", "missing field `retention_days`: a purpose needs a retention period",
    "목적에 보관 기간(`retention_days`: 받은 계열사가 보관할 수 있는 일수)이 없습니다")

RETENTION_48_2_UNAPPROVED = _warning(
    "P057", "purpose `{purpose}` cites 금융지주회사법 제48조의2: `retention_days` {days} exceeds 30 "
            "without an `approval_ref`; releases carry a use-by 30 days out until one is given",
    "목적 `{purpose}`은(는) 금융지주회사법 제48조의2(내부 경영관리)를 근거로 하므로 보관 기간이 "
    "30일을 넘으려면(현재 {days}일) 승인 근거(`approval_ref`)를 적어야 합니다 — 그 전까지 "
    "제공되는 정보의 파기 기한은 30일입니다")

# --- systems and their keys --------------------------------------------------------------------
KEY_PATH_OUTSIDE = _error(
    "P040", "public key path `{key}` must stay inside the public keys dir",
    "공개키 경로 `{key}`은(는) 공개키 폴더 안이어야 합니다")
KEY_NOT_FOUND = _error(
    "P041", "public key file `{key}` not found in the public keys dir",
    "공개키 파일 `{key}`이(가) 공개키 폴더에 없습니다")
KEY_NOT_PEM = _error(
    "P042", "public key file `{key}` is not a pem public key",
    "공개키 파일 `{key}`을(를) 읽을 수 없습니다 (PEM 공개키가 아님)")
KEY_WRONG_ALGORITHM = _error(
    "P043", "public key `{key}` is not {wanted}, as algorithm `{algorithm}` requires",
    "공개키 `{key}`의 종류가 지정된 알고리즘 `{algorithm}`과(와) 맞지 않습니다")
NO_KEY = _error(
    "P044", "missing field `public_key`: a system needs a public key",
    "시스템에 공개키(`public_key`)가 없습니다 — 키 없이는 호출을 검증할 수 없습니다")

# --- what rules release ------------------------------------------------------------------------
UNIQUE_ID_EXACT = _error(
    "P050", "attribute `{attribute}` is a unique identifier: view `{view}` releases it in exact "
            "form, allowed only under a re-identification purpose, not `{purpose}`",
    "항목 `{attribute}`은(는) 고유식별정보입니다: `{view}` 형태는 원본 그대로 제공하므로 재식별 "
    "목적에서만 허용됩니다 (`{purpose}` 불가, 개인정보 보호법 제24조·제24조의2)")
SENSITIVE_WITHOUT_CONSENT = _error(
    "P051", "attribute `{attribute}` is sensitive: purpose `{purpose}` must have "
            "`consent_required: true` to release it",
    "항목 `{attribute}`은(는) 민감정보입니다: 별도 동의가 필요한 목적에서만 제공할 수 있습니다 "
    "(`{purpose}`은(는) 동의 불요, 개인정보 보호법 제23조)")
RULES_DISAGREE = _error(
    "P052", "rules `{first}` and `{second}` both grant `{attribute}` to `{recipient}` for "
            "`{purpose}` but disagree on views ({views_first} vs {views_second})",
    "규칙 `{first}`와(과) `{second}`이(가) 같은 계열사 `{recipient}`·목적 `{purpose}`의 항목 "
    "`{attribute}`을(를) 서로 다른 형태로 허용합니다 — 하나로 합치세요")
RULES_DISAGREE_SYSTEMS = _error(
    "P053", "rules `{first}` and `{second}` both grant `{attribute}` to `{recipient}` for "
            "`{purpose}` but to different systems",
    "규칙 `{first}`와(과) `{second}`이(가) 같은 계열사 `{recipient}`·목적 `{purpose}`의 항목 "
    "`{attribute}`을(를) 서로 다른 시스템 조건으로 허용합니다 — 하나로 합치세요")
SENSITIVE_EXACT_MARKETING = _error(
    "P055", "attribute `{attribute}` is sensitive: view `{view}` releases it exact under "
            "marketing purpose `{purpose}`; release it as a boolean or band, or not at all",
    "항목 `{attribute}`은(는) 민감정보입니다: 마케팅 목적 `{purpose}`에 `{view}` 형태(원본 그대로)로 "
    "제공할 수 없습니다 — 예/아니오·구간 형태로 바꾸거나 빼세요 (개인정보 보호법 제3조 최소 처리, "
    "제23조)")
SENSITIVE_UNDER_MARKETING = _warning(
    "P056", "attribute `{attribute}` is sensitive and released under marketing purpose "
            "`{purpose}` (view `{view}`): make sure marketing really needs it",
    "항목 `{attribute}`은(는) 민감정보인데 마케팅 목적 `{purpose}`에 `{view}` 형태로 제공됩니다 — "
    "마케팅에 꼭 필요한지 확인하세요 (개인정보 보호법 제23조)")
DUPLICATE_GRANT = _warning(
    "P054", "rules `{first}` and `{second}` both grant `{attribute}` to `{recipient}` for "
            "`{purpose}` in the same views",
    "규칙 `{first}`와(과) `{second}`이(가) 같은 허용을 중복해서 적었습니다 (`{attribute}`)")

# --- rate limits and alerts (affiliates.yaml `limits:`, issue #12) -------------------------------
INVALID_LIMIT = _error(
    "P070", "`{measure}` of {scope}: `limit` must be a whole number from 1 to 10000000, and "
            "`alert` (optional) a whole number from 1 to 10000000, with nothing else",
    "{scope_ko}의 `{measure}` 제한이 올바르지 않습니다 — `limit`(1~10000000 사이의 정수)과 "
    "선택 항목 `alert`(1~10000000 사이의 정수)만 적을 수 있습니다. 예: "
    "`{measure}: {{limit: 120, alert: 60}}`")
ALERT_NOT_BELOW_LIMIT = _error(
    "P071", "`{measure}` of {scope}: `alert` ({alert}) must be lower than `limit` ({limit})",
    "{scope_ko}의 `{measure}`: 경보 기준 `alert`({alert})는 제한 `limit`({limit})보다 작아야 "
    "합니다 — 제한에 걸리기 전에 경보가 먼저 울려야 합니다")
UNKNOWN_MEASURE = _error(
    "P072", "unknown measure `{measure}` in {scope} (known: {known})",
    "{scope_ko}에 알 수 없는 측정 항목 `{measure}`이(가) 있습니다 (가능한 항목: {known}) — "
    "requests_per_minute(분당 요청 수), customers_per_hour(시간당 고객 수), "
    "customers_per_day(하루 고객 수)")
INVALID_LIMIT_SUBJECT = _error(
    "P073", "employees of `{system}` in `limits`: each must be named by an identifier (letters, "
            "digits, `.`, `_`, `@`, `-`; at most 128), as the token's `sub` names it",
    "`limits`에서 시스템 `{system}`의 직원·배치 작업 이름은 토큰의 `sub`와 같은 식별자여야 합니다 "
    "(글자·숫자와 `.` `_` `@` `-`, 128자 이하)")
LIMITS_NOT_A_MAPPING = _error(
    "P074", "{scope} in `limits`: expected measures such as `requests_per_minute: {{limit: 120, "
            "alert: 60}}`",
    "`limits`의 {scope_ko}에는 측정 항목을 적습니다 — 예: "
    "`requests_per_minute: {{limit: 120, alert: 60}}`")

# --- warnings: dead entries ---------------------------------------------------------------------
RULE_UNUSABLE = _warning(
    "P060", "rule `{rule}` can never apply: no system of `{recipient}` it names has the "
            "`query` permission",
    "규칙 `{rule}`은(는) 쓰일 수 없습니다: `{recipient}`에 이 규칙을 쓸 조회(`query`) 권한 "
    "시스템이 없습니다")
SYSTEM_CANNOT_QUERY = _warning(
    "P061", "system `{system}` lacks the `query` permission: rule `{rule}` never applies to it",
    "시스템 `{system}`에는 조회(`query`) 권한이 없어 규칙 `{rule}`을(를) 쓸 수 없습니다")
ATTRIBUTE_UNRELEASED = _warning(
    "P062", "no rule releases attribute `{attribute}`",
    "항목 `{attribute}`을(를) 제공하는 규칙이 없습니다 (필요 없다면 카탈로그에서 빼도 됩니다)")

# --- the officers' test cases (`gateway policy test`) ------------------------------------------------
NO_CASES = _error("T001", "no test case files (`*.yaml`) found",
                  "시험 사례 파일(`*.yaml`)이 없습니다")
CASE_UNREADABLE = _error("T002", "{detail}", "시험 사례를 읽을 수 없습니다: {detail}")

# --- the console's roles (affiliates.yaml `console:`) ---------------------------------------------
CONSOLE_NEEDS_SECOND_FACTOR = _error(
    "P080", "console role `{role}` must require a second factor (`second_factor: true`)",
    "콘솔 역할 `{role}`은(는) 2단계 인증(OTP)이 필수입니다 — `second_factor: true`로 적으세요")

CODES: dict[str, Code] = {c.code: c for c in globals().values() if isinstance(c, Code)}
