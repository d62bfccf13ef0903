"""Korean output (`--lang ko`): every finding and the summary in Korean, times in KST.

The checks produce their findings in English (one line, lowercase, stable: tests and scripts
match them). Here each finding's shape is one pattern, tried in order, with a Korean
template; a part that is itself a finding (the reason after a colon) is translated in turn.
A finding no pattern knows is shown in English behind a Korean label, so nothing is lost.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
UNTRANSLATED = "번역되지 않은 항목"


def kst(value: object) -> str:
    """An RFC 3339 time as `YYYY-MM-DD HH:MM:SS KST`; anything else unchanged (a tampered
    record's `time` may be any json value)."""
    if value is None or value == "":
        return "…"
    if not isinstance(value, str):
        return str(value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value
    if when.tzinfo is None:
        return value
    return when.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S KST")


def kst_in(text: str) -> str:
    """Every RFC 3339 time inside `text`, in KST."""
    return _TIME.sub(lambda m: kst(m.group(0)), text)


# what a note problem is about → its Korean name
_WHAT = {
    "checkpoint": "체크포인트",
    "previous checkpoint in `consistency.json`": "`consistency.json`의 이전 체크포인트",
    "the given previous checkpoint": "주어진 이전 체크포인트",
    "old checkpoint": "이전 체크포인트",
    "new checkpoint": "새 체크포인트",
}
# a backticked name; lazily matched rather than `[^`]*`, so that a name holding a backtick
# itself (a tampered member name) is still translated: the fullmatch anchors each template
_B = r"`(?P<{}>.*?)`"


def _p(pattern: str) -> re.Pattern[str]:
    # `{x}` in a pattern is a backticked group named x; groups named t_* are findings again
    return re.compile(re.sub(r"\{(\w+)\}", lambda m: _B.format(m.group(1)), pattern))


_NUM = r"(?P<{}>-?[\d,]+)"  # negative too: a tampered index is echoed as it was written
_TABLE: list[tuple[re.Pattern[str], str]] = [(_p(p.replace("#a", _NUM.format("a"))
                                                .replace("#b", _NUM.format("b"))
                                                .replace("#c", _NUM.format("c"))), k) for p, k in [
    # the archive as a file
    (r"archive unreadable: (?P<t_d>.+)", "아카이브를 읽을 수 없습니다: {t_d}"),
    (r"{p} is not a readable tar archive: (?P<e>.+)",
     "`{p}`은(는) 읽을 수 있는 tar 아카이브가 아닙니다: {e}"),
    (r"archive member {n} is too large", "아카이브 구성원 `{n}`이(가) 너무 큽니다"),
    (r"{n} does not end with a newline", "`{n}`이(가) 줄바꿈으로 끝나지 않습니다"),
    (r"archive holds an unknown member {n}", "아카이브에 알 수 없는 구성원 `{n}`이(가) 있습니다"),
    (r"archive member {n} is not a regular file", "아카이브 구성원 `{n}`은(는) 일반 파일이 아닙니다"),
    (r"archive holds {n} twice", "아카이브에 `{n}`이(가) 두 번 들어 있습니다"),
    (r"archive member {n} is out of order", "아카이브 구성원 `{n}`의 순서가 틀렸습니다"),
    (r"archive is truncated or corrupt: (?P<e>.+)", "아카이브가 잘렸거나 손상되었습니다: {e}"),
    (r"archive lacks {n}", "아카이브에 `{n}`이(가) 없습니다"),
    (r"{w} is not valid json", "`{w}`은(는) 올바른 JSON이 아닙니다"),
    (r"{w} is not a list of base64 hashes", "`{w}`은(는) base64 해시 목록이 아닙니다"),
    (r"{w} holds a hash that is not base64", "`{w}`에 base64가 아닌 해시가 있습니다"),
    (r"{w} holds a hash that is not 32 bytes", "`{w}`에 32바이트가 아닌 해시가 있습니다"),
    # the same of one field in a member: `consistency.json` `hashes`
    (r"{w} {f} is not a list of base64 hashes", "`{w}`의 `{f}`은(는) base64 해시 목록이 아닙니다"),
    (r"{w} {f} holds a hash that is not base64", "`{w}`의 `{f}`에 base64가 아닌 해시가 있습니다"),
    (r"{w} {f} holds a hash that is not 32 bytes",
     "`{w}`의 `{f}`에 32바이트가 아닌 해시가 있습니다"),
    (r"`manifest.json` names no `format`: expected {f}",
     "`manifest.json`에 `format`이 없습니다: `{f}`이어야 합니다"),
    (r"archive format {f} is not supported: this verifier reads {g}",
     "아카이브 형식 `{f}`은(는) 지원되지 않습니다: 이 검증기는 `{g}`을(를) 읽습니다"),
    (r"`checkpoint` is not a signed checkpoint: (?P<t_d>.+)",
     "`checkpoint`는 서명된 체크포인트가 아닙니다: {t_d}"),
    (r"{n} is not a verifier key: (?P<t_d>.+)", "`{n}`은(는) 검증 키가 아닙니다: {t_d}"),
    (r"{n} is not named after its key hash", "`{n}`의 이름이 키 해시와 다릅니다"),
    (r"`consistency.json` lacks `old_checkpoint`", "`consistency.json`에 `old_checkpoint`가 없습니다"),
    (r"`export-proof.json` comes before the checkpoint or record",
     "`export-proof.json`이 체크포인트나 반출 기록보다 앞에 있습니다"),
    (r"`export-proof.json` is not a proof", "`export-proof.json`은 증명이 아닙니다"),
    (r"`records.jsonl` comes before the manifest or checkpoint",
     "`records.jsonl`이 매니페스트나 체크포인트보다 앞에 있습니다"),
    (r"`proofs.jsonl` comes before the checkpoint",
     "`proofs.jsonl`이 체크포인트보다 앞에 있습니다"),
    (r"line #a of `proofs.jsonl` is not a proof", "`proofs.jsonl`의 {a}번째 줄은 증명이 아닙니다"),
    # signatures and origin
    (r"(?P<w_what>.+?) altered: signature by trusted key {k} does not verify over its text",
     "{w_what}가 변조되었습니다: 신뢰하는 키 `{k}`의 서명이 본문과 맞지 않습니다"),
    (r"(?P<w_what>.+?) signed by the wrong key: {k} is not the trusted key of that name",
     "{w_what}가 잘못된 키로 서명되었습니다: `{k}`은(는) 그 이름의 신뢰하는 키가 아닙니다"),
    (r"(?P<w_what>.+?) signed by an untrusted key: signed by (?P<n>.+), none of them trusted",
     "{w_what}가 신뢰하지 않는 키로 서명되었습니다: 서명한 키 {n} 중 신뢰하는 키가 없습니다"),
    (r"(?P<w_what>.+?) origin {o} is not the name of the trusted key that signed it: "
     r"signed as (?P<n>.+)",
     "{w_what}의 origin `{o}`이(가) 서명한 신뢰 키의 이름과 다릅니다: 서명한 키 이름 {n}"),
    (r"(?P<w_what>.+?) is malformed: (?P<t_d>.+)", "{w_what}의 형식이 잘못되었습니다: {t_d}"),
    # key hand-over
    (r"hand-over on line #a of `handovers.jsonl` is malformed: (?P<t_d>.+)",
     "`handovers.jsonl` {a}번째 줄의 키 인계 형식이 잘못되었습니다: {t_d}"),
    (r"it needs `checkpoint`, `record`, `index`", "`checkpoint`, `record`, `index`가 필요합니다"),
    (r"its proofs are not lists of base64 hashes", "증명이 base64 해시 목록이 아닙니다"),
    (r"its record is not a log key {k} record", "기록이 로그 키 `{k}` 기록이 아닙니다"),
    (r"hand-over at tree size #a does not lead to the checkpoint: (?P<t_d>.+)",
     "트리 크기 {a}의 키 인계가 체크포인트로 이어지지 않습니다: {t_d}"),
    (r"hand-over at tree size #a is not signed by the old key {k} it names",
     "트리 크기 {a}의 키 인계에 그것이 지목한 이전 키 `{k}`의 서명이 없습니다"),
    (r"hand-over at tree size #a names keys {k} and {j} for the log {o}: "
     r"a log's keys are named after its origin",
     "트리 크기 {a}의 키 인계가 로그 `{o}`에 키 `{k}`, `{j}`를 지목합니다: "
     "로그의 키 이름은 origin과 같아야 합니다"),
    (r"hand-over at tree size #a is forged: its {k} record is not in the tree the old key signed",
     "트리 크기 {a}의 키 인계가 위조되었습니다: `{k}` 기록이 이전 키가 서명한 트리에 없습니다"),
    (r"hand-over at tree size #a is not co-signed by the new key {k}",
     "트리 크기 {a}의 키 인계에 새 키 `{k}`의 공동 서명이 없습니다"),
    # records, proofs, selection
    (r"export record was modified: (?P<t_d>.+)", "반출 기록이 변조되었습니다: {t_d}"),
    (r"it holds index #a, its proof is for index #b",
     "기록의 색인은 {a}인데 증명은 색인 {b}의 것입니다"),
    (r"export record at index #a was modified: it is beyond the checkpoint's tree size",
     "색인 {a}의 반출 기록이 변조되었습니다: 체크포인트의 트리 크기를 벗어납니다"),
    (r"export record at index #a was modified: it is not the record the checkpoint's tree "
     r"holds at that index",
     "색인 {a}의 반출 기록이 변조되었습니다: 체크포인트의 트리가 그 색인에 담은 기록이 아닙니다"),
    (r"it is not json", "JSON이 아닙니다"),
    (r"it is not utf-8 text", "UTF-8 텍스트가 아닙니다"),
    (r"it is not a {k} record", "`{k}` 기록이 아닙니다"),
    (r"its `index`, `covers_tree_size` or `selected` is not a count",
     "`index`, `covers_tree_size` 또는 `selected`가 개수가 아닙니다"),
    (r"its `selection_digest` is not a base64 sha-256 digest",
     "`selection_digest`가 base64 SHA-256 요약값이 아닙니다"),
    (r"it claims to cover tree size #a, beyond its own index #b",
     "자기 색인 {b}을(를) 넘는 트리 크기 {a}을(를) 대상으로 한다고 주장합니다"),
    (r"manifest {m} differs from the logged export record's {r}",
     "매니페스트의 `{m}`이(가) 로그에 기록된 반출 기록의 `{r}`와 다릅니다"),
    (r"record on line #a of `records.jsonl` was modified: its `index` is beyond the size of "
     r"any log",
     "`records.jsonl` {a}번째 줄의 기록이 변조되었습니다: `index`가 어떤 로그의 크기보다도 큽니다"),
    (r"record on line #a of `records.jsonl` was modified: it is not a json object with an "
     r"`index`",
     "`records.jsonl` {a}번째 줄의 기록이 변조되었습니다: `index`가 있는 JSON 객체가 아닙니다"),
    (r"records reordered: index #a follows index #b \(line #c of `records.jsonl`\)",
     "기록 순서가 바뀌었습니다: 색인 {a}이(가) 색인 {b} 뒤에 있습니다 "
     "(`records.jsonl` {c}번째 줄)"),
    (r"record added that the checkpoint does not cover: index #a is beyond tree size #b",
     "체크포인트가 포함하지 않는 기록이 추가되었습니다: 색인 {a}은(는) 트리 크기 {b}을(를) "
     "벗어납니다"),
    (r"record added that the export does not cover: index #a is not below the covered tree "
     r"size #b of the export record",
     "반출 대상이 아닌 기록이 추가되었습니다: 색인 {a}이(가) 반출 기록의 대상 트리 크기 {b} "
     "미만이 아닙니다"),
    (r"record at index #a is outside the declared filters: (?P<t_d>.+)",
     "색인 {a}의 기록이 선언된 필터 밖에 있습니다: {t_d}"),
    (r"it has no valid `time`", "올바른 `time`이 없습니다"),
    (r"`time` (?P<x_t>\S+) is before `since`", "`time` {x_t}이(가) `since`보다 앞섭니다"),
    (r"`time` (?P<x_t>\S+) is not before `until`", "`time` {x_t}이(가) `until`보다 앞서지 않습니다"),
    (r"affiliate {a} is not among `affiliates`", "제휴사 `{a}`이(가) `affiliates`에 없습니다"),
    (r"customer is not among `customers`", "고객이 `customers`에 없습니다"),
    (r"purpose {p} is not among `purposes`", "목적 `{p}`이(가) `purposes`에 없습니다"),
    (r"record at index #a has no inclusion proof", "색인 {a}의 기록에 포함 증명이 없습니다"),
    (r"record at line #a has no inclusion proof", "{a}번째 줄의 기록에 포함 증명이 없습니다"),
    (r"record removed: the proof for index #a has no record",
     "기록이 삭제되었습니다: 색인 {a}의 증명에 해당하는 기록이 없습니다"),
    (r"proof on line #a is for index #b, its record holds index #c",
     "{a}번째 줄의 증명은 색인 {b}의 것인데 그 기록의 색인은 {c}입니다"),
    (r"record at index #a was modified: it is not the record the checkpoint's tree holds at "
     r"that index",
     "색인 {a}의 기록이 변조되었습니다: 체크포인트의 트리가 그 색인에 담은 기록이 아닙니다"),
    (r"selection cannot be checked: the archive has no valid export record proved in the "
     r"checkpoint",
     "선택 범위를 확인할 수 없습니다: 체크포인트로 증명된 올바른 반출 기록이 아카이브에 없습니다"),
    (r"selection does not match the logged export record: #a records expected, #b present",
     "선택 범위가 로그에 기록된 반출 기록과 다릅니다: 기록 {a}건이어야 하는데 {b}건 있습니다"),
    (r"selection does not match the logged export record: the records are not the ones "
     r"whose digest it logged",
     "선택 범위가 로그에 기록된 반출 기록과 다릅니다: 기록들이 요약값이 기록된 그 기록들이 "
     "아닙니다"),
    # the manifest
    (r"manifest `origin` differs from the checkpoint's origin",
     "매니페스트의 `origin`이 체크포인트의 origin과 다릅니다"),
    (r"manifest `tree_size` is (?P<x>.+), the checkpoint's is (?P<y>\S+)",
     "매니페스트의 `tree_size`는 {x}, 체크포인트의 트리 크기는 {y}입니다"),
    (r"manifest `records` is missing", "매니페스트에 `records`가 없습니다"),
    (r"manifest `counts` is missing", "매니페스트에 `counts`가 없습니다"),
    (r"record removed: the manifest declares (?P<x>.+) records, the archive holds #b",
     "기록이 삭제되었습니다: 매니페스트는 {x}건이라 하는데 아카이브에는 {b}건 있습니다"),
    (r"record added: the manifest declares (?P<x>.+) records, the archive holds #b",
     "기록이 추가되었습니다: 매니페스트는 {x}건이라 하는데 아카이브에는 {b}건 있습니다"),
    (r"manifest `records\.(?P<n>\w+)` is (?P<x>.+), the records say (?P<y>.+)",
     "매니페스트의 `records.{n}`는 {x}인데 기록으로는 {y}입니다"),
    (r"manifest count wrong: `counts\.(?P<n>\w+)` is (?P<x>.+), the records hold (?P<y>.+)",
     "매니페스트의 건수가 틀렸습니다: `counts.{n}`는 {x}인데 기록으로는 {y}입니다"),
    (r"manifest `filters` is not an object", "매니페스트의 `filters`가 객체가 아닙니다"),
    (r"manifest filter {f} is unknown", "매니페스트의 필터 `{f}`은(는) 알 수 없는 필터입니다"),
    (r"manifest filter {f} is not an rfc 3339 time",
     "매니페스트의 필터 `{f}`이(가) RFC 3339 시각이 아닙니다"),
    (r"manifest filter {f} is not a list of strings",
     "매니페스트의 필터 `{f}`이(가) 문자열 목록이 아닙니다"),
    (r"manifest `previous_checkpoint` differs from `consistency.json`",
     "매니페스트의 `previous_checkpoint`가 `consistency.json`과 다릅니다"),
    # consistency and forks
    (r"`consistency.json` sizes differ from its checkpoints",
     "`consistency.json`의 크기가 그 체크포인트들과 다릅니다"),
    (r"no consistency proof from the previous checkpoint \(size #a\) in the archive",
     "아카이브에 이전 체크포인트(크기 {a})로부터의 일관성 증명이 없습니다"),
    (r"the archive proves consistency from size #a, not from the given previous checkpoint "
     r"of size #b",
     "아카이브는 주어진 이전 체크포인트(크기 {b})가 아니라 크기 {a}로부터의 일관성을 "
     "증명합니다"),
    (r"fork: the given previous checkpoint and the archive's disagree on the tree of size #a",
     "포크(분기): 주어진 이전 체크포인트와 아카이브의 체크포인트가 크기 {a}의 트리에서 "
     "서로 다릅니다"),
    (r"checkpoints are of different logs: {a} and {b}",
     "체크포인트들이 서로 다른 로그의 것입니다: `{a}`, `{b}`"),
    (r"fork: two checkpoints of size #a with different root hashes",
     "포크(분기): 크기 {a}의 두 체크포인트의 루트 해시가 다릅니다"),
    (r"fork: the new checkpoint \(size #a\) is smaller than the previous one \(size #b\)",
     "포크(분기): 새 체크포인트(크기 {a})가 이전 체크포인트(크기 {b})보다 작습니다"),
    (r"fork: the tree of size #a is not a prefix of the tree of size #b "
     r"\(consistency proof fails\)",
     "포크(분기): 크기 {a}의 트리가 크기 {b}의 트리의 앞부분이 아닙니다 (일관성 증명 실패)"),
    (r"the proof is not base64 hashes or a consistency.json",
     "증명이 base64 해시 목록이나 consistency.json이 아닙니다"),
    # notes and keys
    (r"note holds a control character", "서명된 노트에 제어 문자가 있습니다"),
    (r"note has no blank line before its signatures", "서명된 노트에 서명 앞 빈 줄이 없습니다"),
    (r"note signature block is empty or lacks its final newline",
     "서명된 노트의 서명 부분이 비었거나 마지막 줄바꿈이 없습니다"),
    (r"note signature line does not start with an em dash",
     "서명된 노트의 서명 줄이 em 대시로 시작하지 않습니다"),
    (r"note signature is not valid base64", "서명된 노트의 서명이 올바른 base64가 아닙니다"),
    (r"note signature line has a bad key name or is too short",
     "서명된 노트의 서명 줄의 키 이름이 잘못되었거나 너무 짧습니다"),
    # a saved access history (`gateway-verify history`)
    (r"the history file is not json", "내역 파일이 JSON이 아닙니다"),
    (r"the history file is not a {f} document", "내역 파일이 `{f}` 문서가 아닙니다"),
    (r"the history file has no list of {f}", "내역 파일에 `{f}` 목록이 없습니다"),
    (r"the history's `origin` or `tree_size` differs from its checkpoint's",
     "내역의 `origin` 또는 `tree_size`가 체크포인트와 다릅니다"),
    (r"an entry is malformed: it needs `log_index`, `record` and `proof`",
     "내역 한 건의 형식이 잘못되었습니다: `log_index`, `record`, `proof`가 필요합니다"),
    (r"entry at index #a is malformed: its proof is not a list of base64 hashes",
     "색인 {a}의 내역 형식이 잘못되었습니다: 증명이 base64 해시 목록이 아닙니다"),
    (r"entry at index #a is beyond the checkpoint's tree size",
     "색인 {a}의 내역이 체크포인트의 트리 크기를 벗어납니다"),
    (r"entry at index #a was modified: it is not the record the checkpoint's tree holds at "
     r"that index",
     "색인 {a}의 내역이 변조되었습니다: 체크포인트의 트리가 그 색인에 담은 기록이 아닙니다"),
    (r"entry at index #a was modified: its record holds another index",
     "색인 {a}의 내역이 변조되었습니다: 기록에 다른 색인이 적혀 있습니다"),
    (r"entry at index #a does not match its record: {n}",
     "색인 {a}의 내역이 기록과 다릅니다: `{n}`"),
    (r"entries out of order: index #a follows index #b",
     "내역 순서가 바뀌었습니다: 색인 {a}이(가) 색인 {b} 뒤에 있습니다"),
    (r"the entries concern more than one customer", "내역이 두 명 이상의 고객에 관한 것입니다"),
    (r"a campaign is malformed", "캠페인 항목의 형식이 잘못되었습니다"),
    (r"campaign {c} is malformed: it needs `closing_index`, `closing_record` and "
     r"`closing_proof`",
     "캠페인 `{c}`의 형식이 잘못되었습니다: `closing_index`, `closing_record`, `closing_proof`가 "
     "필요합니다"),
    (r"campaign {c} was modified: its closing record is not the record the checkpoint's tree "
     r"holds at index #a",
     "캠페인 `{c}`이(가) 변조되었습니다: 종료 기록이 체크포인트의 트리가 색인 {a}에 담은 기록이 "
     "아닙니다"),
    (r"campaign {c} was modified: its closing record is for another campaign",
     "캠페인 `{c}`이(가) 변조되었습니다: 종료 기록이 다른 캠페인의 것입니다"),
    (r"campaign {c} inclusion does not hold: (?P<t_d>.+)",
     "캠페인 `{c}` 포함 증명이 성립하지 않습니다: {t_d}"),
    (r"campaign {c} leaf names another customer than the history",
     "캠페인 `{c}`의 항목이 내역과 다른 고객을 가리킵니다"),
    (r"the proof does not fit index #a in a tree of #b",
     "증명이 크기 {b}인 트리의 색인 {a}에 맞지 않습니다"),
    (r"the proof leads to another root than the closing record's",
     "증명이 종료 기록의 루트와 다른 루트로 이어집니다"),
    (r"`hidden` is not a list of counts", "`hidden`이 건수 목록이 아닙니다"),
    (r"the hidden counts do not add up to `hidden_total`",
     "표시하지 않은 건수의 합이 `hidden_total`과 다릅니다"),
    (r"checkpoint must end with a newline", "체크포인트는 줄바꿈으로 끝나야 합니다"),
    (r"checkpoint needs origin, size and root lines",
     "체크포인트에 origin, 크기, 루트 줄이 필요합니다"),
    (r"checkpoint size is not a decimal count", "체크포인트 크기가 10진수 개수가 아닙니다"),
    (r"checkpoint root is not valid base64", "체크포인트 루트가 올바른 base64가 아닙니다"),
    (r"checkpoint root is not a 32-byte hash or has an empty line",
     "체크포인트 루트가 32바이트 해시가 아니거나 빈 줄이 있습니다"),
    (r"verifier key must be `name\+hash\+key`", "검증 키는 `name+hash+key` 형식이어야 합니다"),
    (r"verifier key {n} is not valid hex and base64",
     "검증 키 `{n}`이(가) 올바른 16진수와 base64가 아닙니다"),
    (r"verifier key {n} is not an ed25519 key", "검증 키 `{n}`은(는) Ed25519 키가 아닙니다"),
    (r"verifier key {n} has a key hash that does not match its key",
     "검증 키 `{n}`의 키 해시가 키와 맞지 않습니다"),
    (r"cannot read key file {p}", "키 파일 `{p}`을(를) 읽을 수 없습니다"),
    (r"cannot read {p}: (?P<e>.+)", "`{p}`을(를) 읽을 수 없습니다: {e}"),
    (r"no trusted key given: use --key or --key-file",
     "신뢰하는 키가 없습니다: --key 또는 --key-file을 쓰십시오"),
]]


def translate(message: str) -> str:
    """The Korean of one English finding (see the module docstring)."""
    for pattern, template in _TABLE:
        match = pattern.fullmatch(message)
        if match is None:
            continue
        parts: dict[str, str] = {}
        for name, value in match.groupdict().items():
            if name.startswith("t_"):
                value = translate(value)
            elif name.startswith("w_"):
                value = _WHAT.get(value, value)
            elif name.startswith("x_"):
                value = kst(value)
            parts[name] = value
        return template.format(**parts)
    return f"{UNTRANSLATED}: {kst_in(message)}"
