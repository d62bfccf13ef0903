"""Load and check the policy set: four YAML files in, an immutable `Policy` or every problem out.

The policy version is `sha256:` + the hex SHA-256 over the files' exact bytes, taken in sorted
file-name order, each as `name NUL length(8 bytes, big-endian) bytes`. Comments count: any
edit an officer makes, even to an explanation, is a new version in the access log. (Issue #5
asks for a hash over the "canonical content"; the bytes ARE the canonical content here: the
comments are the officer's reasons, which regulators read, so changing them is a change.)

Each problem carries a stable code and an English and a Korean line (`checks/codes.py`). The
loader reports what stops a set from being built (syntax, shape, references); the meaning
checks of `gateway.policy.checks` then run over everything that could be built. Errors of
either kind refuse the set; warnings are reported by `inspect_policy` only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, TypeVar, cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import BaseModel, ValidationError

from gateway.domain import (
    AffiliateId,
    AttributeId,
    Channel,
    PolicyVersion,
    PurposeId,
    SystemId,
    ViewName,
)
from gateway.policy import schema
from gateway.policy.checks import Context, run_checks
from gateway.policy.checks import codes as C
from gateway.policy.checks.codes import Code, Hint, suggest
from gateway.policy.employee_ids import EmployeeIdFormat
from gateway.policy.model import (
    DEFAULT_CHANNELS,
    LEGAL_BASIS_48_2,
    RECONFIRM_DAYS,
    RETENTION_48_2_DAYS,
    Affiliate,
    Algorithm,
    Attribute,
    ContactCap,
    ConsoleRole,
    ContactChannel,
    HistoryExemption,
    Limits,
    Policy,
    PublicKey,
    Purpose,
    RateLimit,
    RateLimits,
    Rule,
    Segment,
    Source,
    System,
)
from gateway.policy.problems import PolicyLoadError, Problem
from gateway.policy.views import VIEW_KINDS, ExactView, MaskedView, View
from gateway.policy.yamlmarks import Document, Position, read
from gateway.policy.yamlmarks import Path as YamlPath
from pseudonymizer.schemes import SCHEMES

FILES = ("affiliates.yaml", "attributes.yaml", "purposes.yaml", "rules.yaml")
RRN_ATTRIBUTE = "rrn"  # raw national id numbers never leave the gateway (개인정보 보호법 제24조의2)

M = TypeVar("M", bound=BaseModel)

_KIND_KO = {"affiliate": "계열사", "system": "시스템", "purpose": "목적", "attribute": "항목",
            "rule": "규칙", "channel": "채널", "segment": "대상 조건",
            "console role": "콘솔 역할"}
# 개인정보의 안전성 확보조치 기준 제5조 ⑥: people who handle personal data at large (the privacy
# office, internal audit) sign in with a second factor
SECOND_FACTOR_ROLES = frozenset({"privacy_officer", "auditor"})


@dataclass(frozen=True, slots=True)
class Inspection:
    """Everything `policy check` reports: all problems (errors and warnings), and the policy
    when it has no error."""

    problems: tuple[Problem, ...]
    policy: Policy | None
    version: PolicyVersion  # of the files as read, even when they have errors

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.is_error)


class _Checker:
    """Collects problems with their file positions while the policy is checked."""

    def __init__(self, policy_dir: Path) -> None:
        self.policy_dir = policy_dir
        self.problems: list[Problem] = []
        self.docs: dict[str, Document] = {}
        self.system_owner: dict[str, str] = {}  # every declared system, even one with a bad key
        self.paths: dict[str, dict[str, YamlPath]] = {}  # kind → id → where it is declared
        # kind → id → its names (Korean, English), read leniently from every file before the
        # entries are checked, so that a name written where an id belongs can be pointed to
        self.names: dict[str, dict[str, tuple[str, ...]]] = {}

    def file(self, name: str) -> str:
        return str(self.policy_dir / name)

    def at(self, name: str, path: YamlPath, code: Code, /, hint: Hint | None = None,
           **params: Any) -> None:
        doc = self.docs.get(name)
        line, column = doc.position(path) if doc is not None else (1, 1)
        self.problems.append(code.at(self.file(name), line, column, hint, **params))

    def unknown(self, name: str, path: YamlPath, code: Code, kind: str, ident: str) -> None:
        """An unknown name, with the closest known one when there is one ("did you mean")."""
        self.at(name, path, code, suggest(ident, self.names.get(kind, {})), ident=ident)

    def at_position(self, name: str, where: Position, code: Code, /,
                    **params: Any) -> None:
        self.problems.append(code.at(self.file(name), where[0], where[1], **params))

    def validate(self, model: type[M], data: Any, name: str, path: YamlPath) -> M | None:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                code, params, hint = _schema_problem(error, self.names, model)
                loc = tuple(p for p in error["loc"] if p != "[key]")
                self.at(name, path + loc, code, hint, **params)
            return None


# The field a pattern-checked id is written in → the kind of entry it names.
_ID_FIELDS = {"recipient": "affiliate", "owner": "affiliate", "purpose": "purpose",
              "purposes": "purpose", "systems": "system", "attributes": "attribute",
              "channel": "channel"}
# Pydantic's error kinds in plain words: no pattern, no Python type name reaches an officer.
_DETAILS: dict[str, tuple[str, str]] = {
    "int_type": ("a whole number, e.g. `30`", "숫자(정수)로 적으세요, 예: `30`"),
    "int_parsing": ("a whole number, e.g. `30`", "숫자(정수)로 적으세요, 예: `30`"),
    "int_from_float": ("a whole number, e.g. `30`", "숫자(정수)로 적으세요, 예: `30`"),
    "bool_type": ("`true` or `false`", "`true` 또는 `false`로 적으세요"),
    "bool_parsing": ("`true` or `false`", "`true` 또는 `false`로 적으세요"),
    "string_type": ("a text", "글자(문장)로 적으세요"),
    "string_too_short": ("may not be empty", "비워 둘 수 없습니다"),
    "string_too_long": ("too long", "너무 깁니다"),
    "list_type": ("a list, e.g. `[a, b]`", "목록으로 적으세요, 예: `[a, b]`"),
    "tuple_type": ("a list, e.g. `[a, b]`", "목록으로 적으세요, 예: `[a, b]`"),
    "dict_type": ("entries of `name: value`", "`이름: 값` 형식으로 적으세요"),
    "model_type": ("entries of `name: value`", "`이름: 값` 형식으로 적으세요"),
    "model_attributes_type": ("entries of `name: value`", "`이름: 값` 형식으로 적으세요"),
}


def _field_names(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Every field a model (and the models inside it) accepts: the known names of P010."""
    names: dict[str, tuple[str, ...]] = {}
    pending: list[type[BaseModel]] = [model]
    while pending:
        current = pending.pop()
        for field_name, info in current.model_fields.items():
            names.setdefault(field_name, ())
            for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
                if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in pending:
                    pending.append(arg)
    return names


def _schema_problem(error: Any, names: Mapping[str, Mapping[str, tuple[str, ...]]],
                    model: type[BaseModel]) -> tuple[Code, dict[str, Any], Hint | None]:
    """One pydantic error as a code, its parameters and a hint. Neither the input nor a
    pattern is echoed: a name written for an id is answered with the id to use."""
    loc = [part for part in error["loc"] if isinstance(part, str)]
    keyed = "[key]" in loc  # a mapping's key (e.g. an attribute of a rule) was the problem
    loc = [part for part in loc if part != "[key]"]
    field = (loc[-2] if keyed and len(loc) >= 2 else loc[-1]) if loc else "entry"
    kind = error["type"]
    if kind == "extra_forbidden":
        return C.UNKNOWN_FIELD, {"field": field}, suggest(field, _field_names(model))
    if field == "legal_basis" and kind in ("missing", "too_short") and loc == [field]:
        return C.NO_LEGAL_BASIS, {}, None
    if field == "retention_days" and kind == "missing":
        return C.NO_RETENTION, {}, None
    if field == "public_key" and kind == "missing":
        return C.NO_KEY, {}, None
    if kind == "missing":
        return C.MISSING_FIELD, {"field": field}, None
    if field == "pseudonym_scheme":  # a registry name, not an id of the policy
        choices = ", ".join(f"`{n}`" for n in SCHEMES)
        written = error.get("input")
        hint = suggest(written, {n: () for n in SCHEMES}) if isinstance(written, str) else None
        return C.INVALID_VALUE, {"field": field, "detail": f"one of {choices}",
                                 "detail_ko": f"다음 중 하나로 적으세요: {choices}"}, hint
    if kind == "string_pattern_mismatch" or (kind == "string_too_long" and field in _ID_FIELDS):
        written = error.get("input")
        kind_of = _ID_FIELDS.get(field, "")
        if len(loc) >= 2 and loc[-2] == "attributes" and not keyed:  # a view of an attribute
            kind_of = f"view:{field}"
        known = names.get(kind_of, {})
        hint = suggest(written, known) if isinstance(written, str) else None
        return C.NOT_AN_ID, {"field": field}, hint
    if kind == "too_short":
        least = error["ctx"]["min_length"]
        return C.INVALID_VALUE, {"field": field, "detail": f"needs at least {least} item",
                                 "detail_ko": f"{least}개 이상 있어야 합니다"}, None
    if kind in _DETAILS:
        en, ko = _DETAILS[kind]
        return C.INVALID_VALUE, {"field": field, "detail": en, "detail_ko": ko}, None
    if kind == "literal_error" or kind == "enum":
        expected = str(error.get("ctx", {}).get("expected", ""))
        choices = expected.replace("'", "`").replace(" or ", ", ")
        return C.INVALID_VALUE, {"field": field, "detail": f"one of {choices}",
                                 "detail_ko": f"다음 중 하나로 적으세요: {choices}"}, None
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        ctx = error.get("ctx", {})
        bound = next(iter(ctx.values()), "")
        en, ko = {"greater_than_equal": ("at least {}", "{} 이상이어야 합니다"),
                  "less_than_equal": ("at most {}", "{} 이하여야 합니다"),
                  "greater_than": ("more than {}", "{}보다 커야 합니다"),
                  "less_than": ("less than {}", "{}보다 작아야 합니다")}[kind]
        return C.INVALID_VALUE, {"field": field, "detail": en.format(bound),
                                 "detail_ko": ko.format(bound)}, None
    text = str(error["msg"]).removeprefix("Value error, ").rstrip(".")
    detail = f"{text[:1].lower()}{text[1:]}"
    korean = next((ko for start, ko in _VALUE_ERRORS_KO if detail.startswith(start)), None)
    return C.INVALID_VALUE, {"field": field, "detail": detail,
                             "detail_ko": f"{korean}: {detail}" if korean else detail}, None


# Our own validators' messages (views, scrub operators), by how they start, in Korean.
_VALUE_ERRORS_KO = (
    ("bounds must be strictly increasing", "구간 경계는 작은 값부터 큰 값 순서로 적어야 합니다"),
    ("`width` applies only to level", "`width`는 연령대(`age_band`)에만 쓸 수 있습니다"),
    ("unknown operator", "알 수 없는 바꾸기 방식입니다"),
    ("unknown entity", "알 수 없는 개인정보 종류입니다"),
    ("operator", "바꾸기 방식의 값이 올바르지 않습니다"),
)


def _yaml_code(message: str) -> Code:
    if message.startswith("duplicate key"):
        return C.DUPLICATE_KEY
    if message == "file is empty":
        return C.EMPTY_FILE
    return C.YAML_SYNTAX


def _yaml_reporter(check: _Checker, name: str) -> Callable[[Position, str], None]:
    def report(where: Position, message: str) -> None:
        check.at_position(name, where, _yaml_code(message), detail=message)
    return report


def load_policy(policy_dir: Path, public_keys_dir: Path) -> Policy:
    """Read, check and build the policy set; raise `PolicyLoadError` listing every error."""
    inspection = inspect_policy(policy_dir, public_keys_dir)
    if inspection.policy is None:
        raise PolicyLoadError(list(inspection.errors))
    return inspection.policy


def inspect_policy(policy_dir: Path, public_keys_dir: Path) -> Inspection:
    """Every problem of the policy set at once, errors and warnings, sorted by file and line."""
    check = _Checker(policy_dir)
    digest = hashlib.sha256()
    raw: dict[str, Any] = {}
    for name in sorted(FILES):
        path = policy_dir / name
        try:
            data = path.read_bytes()
        except OSError:
            check.at(name, (), C.FILE_UNREADABLE)
            continue
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            check.at(name, (), C.NOT_UTF8)
            continue
        doc = read(text, _yaml_reporter(check, name))
        if doc is not None:
            check.docs[name] = doc
            raw[name] = doc.data

    check.names = _declared_names(raw)
    affiliates = _affiliates(check, raw.get("affiliates.yaml"), public_keys_dir)
    limits = _limits(check, raw.get("affiliates.yaml"))
    channels, reconfirm_days = _marketing(check, raw.get("purposes.yaml"))
    purposes = _purposes(check, raw.get("purposes.yaml"), channels)
    attributes = _attributes(check, raw.get("attributes.yaml"), affiliates)
    rules = _rules(check, raw.get("rules.yaml"), affiliates, attributes, purposes)
    segments = _segments(check, raw.get("rules.yaml"), affiliates, attributes, purposes)
    console_roles = _console(check, raw.get("affiliates.yaml"))

    systems = {sid: s for a in affiliates.values() if a for sid, s in a.systems.items()}
    policy = Policy(
        version=PolicyVersion("sha256:" + digest.hexdigest()),
        affiliates=_frozen({AffiliateId(k): v for k, v in affiliates.items() if v is not None}),
        systems=_frozen(systems),
        attributes=_frozen({AttributeId(k): v for k, v in attributes.items() if v is not None}),
        purposes=_frozen({PurposeId(k): v for k, v in purposes.items() if v is not None}),
        rules=tuple(rules),
        channels=_frozen(channels),
        reconfirm_days=reconfirm_days,
        segments=tuple(segments),
        console_roles=_frozen(console_roles),
        limits=limits,
    )
    # The meaning checks see only what could be built; the dead-entry warnings need the whole
    # set (a system left out for a bad key would look like a missing one), so they wait.
    loaded_cleanly = not check.problems
    run_checks(Context(policy=policy, docs=check.docs, paths=check.paths,
                       report=check.at, complete=loaded_cleanly))

    order = {check.file(name): i for i, name in enumerate(FILES)}
    problems = tuple(sorted(set(check.problems),
                            key=lambda p: (order.get(p.file, 99), p.line, p.column, p.message)))
    has_errors = any(p.is_error for p in problems)
    return Inspection(problems=problems, policy=None if has_errors else policy,
                      version=policy.version)


_K = TypeVar("_K")
_V = TypeVar("_V")


def _frozen(mapping: Mapping[_K, _V]) -> Mapping[_K, _V]:
    return MappingProxyType(dict(mapping))


def _entries(check: _Checker, model: type[BaseModel], data: Any, name: str,
             key: str) -> list[tuple[int, Any]]:
    """The raw entries of a file's one list, e.g. `rules:`; [] when the file is unusable."""
    if data is None:
        return []
    top = check.validate(model, data, name, ())
    if top is None:
        return []
    return list(enumerate(getattr(top, key)))


def _unique(check: _Checker, name: str, kind: str,
            entries: Iterable[tuple[YamlPath, Any]]) -> dict[str, YamlPath]:
    """Ids seen (even of invalid entries, so references to them are not reported twice)."""
    seen: dict[str, YamlPath] = {}
    for path, entry in entries:
        ident = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(ident, str):
            continue
        if ident in seen:
            first = check.docs[name].position(seen[ident] + ("id",))[0]
            check.at(name, path + ("id",), C.DUPLICATE_ID, kind=kind, kind_ko=_KIND_KO[kind],
                     ident=ident, first=first)
            continue
        seen[ident] = path
    check.paths[kind] = seen
    return seen


# --- affiliates and systems --------------------------------------------------------------------
def _affiliates(check: _Checker, data: Any, keys_dir: Path) -> dict[str, Affiliate | None]:
    name = "affiliates.yaml"
    entries = _entries(check, schema.AffiliatesFile, data, name, "affiliates")
    known = _unique(check, name, "affiliate",
                    ((("affiliates", i), entry) for i, entry in entries))
    system_entries: list[tuple[YamlPath, Any]] = []
    for i, entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("systems"), list)):
            continue
        for j, system in enumerate(entry["systems"]):
            system_entries.append((("affiliates", i, "systems", j), system))
            # Owners are read leniently: a rule naming a system whose entry has another
            # problem should not also be told the system is unknown.
            if isinstance(system, dict) and isinstance(system.get("id"), str):
                check.system_owner.setdefault(system["id"], str(entry.get("id")))
    _unique(check, name, "system", system_entries)
    result: dict[str, Affiliate | None] = {ident: None for ident in known}
    seen_systems: set[str] = set()
    for i, entry in entries:
        # Each system is checked on its own, so that one system's missing field does not hide
        # another's broken key: every problem at once.
        raw_systems = entry.get("systems") if isinstance(entry, dict) else None
        listed: list[Any] = raw_systems if isinstance(raw_systems, list) else []
        head = {**entry, "systems": []} if isinstance(raw_systems, list) else entry
        spec = check.validate(schema.AffiliateSpec, head, name, ("affiliates", i))
        sys_specs = [(j, check.validate(schema.SystemSpec, system, name,
                                        ("affiliates", i, "systems", j)))
                     for j, system in enumerate(listed)]
        if spec is None or known.get(spec.id) != ("affiliates", i):
            continue
        systems: dict[SystemId, System] = {}
        for j, sys_spec in sys_specs:
            if sys_spec is None or sys_spec.id in seen_systems:
                continue  # reported above (invalid, or a duplicate)
            seen_systems.add(sys_spec.id)
            path = ("affiliates", i, "systems", j, "public_key")
            key = _public_key(check, name, path, keys_dir, sys_spec.public_key, sys_spec.algorithm)
            if key is None:
                continue
            systems[SystemId(sys_spec.id)] = System(
                id=SystemId(sys_spec.id), affiliate=AffiliateId(spec.id),
                name_ko=sys_spec.name_ko, name_en=sys_spec.name_en,
                # the schema keeps one name per algorithm (`pinned_name`): EdDSA or ES256
                algorithm=cast(Algorithm, sys_spec.algorithm), public_key=key,
                public_key_path=sys_spec.public_key, permissions=frozenset(sys_spec.permissions),
                employee_ids=(EmployeeIdFormat.parse(sys_spec.employee_id)
                              if sys_spec.employee_id is not None else None),
            )
        if spec.pseudonym_scheme not in SCHEMES:
            check.at(name, ("affiliates", i, "pseudonym_scheme"), C.UNKNOWN_SCHEME,
                     suggest(spec.pseudonym_scheme, {n: () for n in SCHEMES}),
                     scheme=spec.pseudonym_scheme, known=", ".join(f"`{n}`" for n in SCHEMES))
            continue
        result[spec.id] = Affiliate(
            id=AffiliateId(spec.id), name_ko=spec.name_ko, name_en=spec.name_en,
            sees_group_customers=spec.sees_group_customers, systems=_frozen(systems),
            pseudonym_scheme=spec.pseudonym_scheme,
        )
    return result


def _console(check: _Checker, data: Any) -> dict[str, ConsoleRole]:
    """The console's roles (`console:` in affiliates.yaml); none when the section is absent."""
    name = "affiliates.yaml"
    if not isinstance(data, dict) or data.get("console") is None:
        return {}
    spec = check.validate(schema.ConsoleSpec, data["console"], name, ("console",))
    if spec is None:
        return {}
    paths = [(("console", "roles", i), entry) for i, entry in enumerate(spec.roles)]
    known = _unique(check, name, "console role", paths)
    roles: dict[str, ConsoleRole] = {}
    for path, entry in paths:
        role = check.validate(schema.ConsoleRoleSpec, entry, name, path)
        if role is None or known.get(role.id) != path:
            continue
        if role.id in SECOND_FACTOR_ROLES and not role.second_factor:
            check.at(name, path + ("second_factor",), C.CONSOLE_NEEDS_SECOND_FACTOR, role=role.id)
            continue
        roles[role.id] = ConsoleRole(id=role.id, name_ko=role.name_ko, name_en=role.name_en,
                                     second_factor=role.second_factor,
                                     pages=frozenset(role.pages))
    return roles


def _public_key(check: _Checker, name: str, path: YamlPath, keys_dir: Path, relative: str,
                algorithm: str) -> PublicKey | None:
    """Load a system's public key and insist it is of the pinned algorithm's type (RFC 8725 §3.1)."""
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts:
        check.at(name, path, C.KEY_PATH_OUTSIDE, key=relative)
        return None
    try:
        pem = (keys_dir / rel).read_bytes()
    except OSError:
        check.at(name, path, C.KEY_NOT_FOUND, key=relative)
        return None
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        check.at(name, path, C.KEY_NOT_PEM, key=relative)
        return None
    if algorithm == "EdDSA" and isinstance(key, Ed25519PublicKey):
        return key
    if (algorithm == "ES256" and isinstance(key, EllipticCurvePublicKey)
            and isinstance(key.curve, SECP256R1)):
        return key
    wanted = "an ed25519 key" if algorithm == "EdDSA" else "a p-256 ec key"
    check.at(name, path, C.KEY_WRONG_ALGORITHM, key=relative, wanted=wanted, algorithm=algorithm)
    return None


def _carried(spec: BaseModel, target: type, handled: Iterable[str]) -> dict[str, Any]:
    """Fields the spec and the model share but this loader does not build by hand (e.g. a flag
    another feature adds to both): copied as they are, so the two never drift apart."""
    names = set(getattr(target, "__dataclass_fields__", {})) - set(handled)
    return {n: getattr(spec, n) for n in names if n in type(spec).model_fields}


# --- purposes ----------------------------------------------------------------------------------
_PURPOSE_BUILT = ("id", "name_ko", "name_en", "legal_bases", "marketing", "consent_required",
                  "notify_customer", "retention_days", "channel", "history_exemption")


def _marketing(check: _Checker, data: Any) -> tuple[dict[Channel, ContactChannel], int]:
    """The contact channels in force and the reconfirmation period of marketing consents
    (정보통신망법 제50조 ⑧). Without a `channels:` section every channel of the vocabulary is in
    force under its default name; with one, only those it lists."""
    name = "purposes.yaml"
    channels: dict[Channel, ContactChannel] = dict(DEFAULT_CHANNELS)
    reconfirm_days = RECONFIRM_DAYS
    if not isinstance(data, dict):
        return channels, reconfirm_days
    if data.get("marketing") is not None:
        settings = check.validate(schema.MarketingSpec, data["marketing"], name, ("marketing",))
        if settings is not None:
            reconfirm_days = settings.reconfirm_days
    listed = data.get("channels")
    if listed is None:
        return channels, reconfirm_days
    if not isinstance(listed, list):
        check.at(name, ("channels",), C.INVALID_VALUE, field="channels",
                 detail="a list of channels", detail_ko="채널 목록으로 적으세요")
        return channels, reconfirm_days
    known = _unique(check, name, "channel", ((("channels", i), e) for i, e in enumerate(listed)))
    channels = {}
    for i, entry in enumerate(listed):
        path: YamlPath = ("channels", i)
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) \
                and _channel(entry["id"]) is None:
            check.at(name, path + ("id",), C.UNKNOWN_CHANNEL,
                     suggest(entry["id"], _channel_names(DEFAULT_CHANNELS)),
                     channel=entry["id"], known=_channel_list(DEFAULT_CHANNELS))
            continue
        spec = check.validate(schema.ChannelSpec, entry, name, path)
        if spec is not None and known.get(spec.id.value) == path:
            cap = _cap(check, spec, path)
            channels[spec.id] = ContactChannel(spec.id, spec.name_ko, spec.name_en, cap)
    return channels, reconfirm_days


def _cap(check: _Checker, spec: schema.ChannelSpec, path: YamlPath) -> ContactCap | None:
    """A channel's frequency cap, checked strictly: one problem (P036) whatever is wrong, and
    the written value is never echoed."""
    if spec.cap is None:
        return None
    try:
        cap = schema.CapSpec.model_validate(spec.cap)
    except ValidationError:
        check.at("purposes.yaml", path + ("cap",), C.INVALID_CAP, channel=spec.id.value)
        return None
    return ContactCap(cap.max, cap.window_days)


def _channel(value: str) -> Channel | None:
    try:
        return Channel(value)
    except ValueError:
        return None


def _channel_names(channels: Mapping[Channel, ContactChannel]) -> dict[str, tuple[str, ...]]:
    return {c.value: (entry.name_ko, entry.name_en) for c, entry in channels.items()}


def _channel_list(channels: Iterable[Channel]) -> str:
    return ", ".join(f"`{c.value}`" for c in channels)


def _history_exemption(spec: schema.PurposeSpec) -> HistoryExemption | None:
    history = spec.history
    if history is None or history.shown:
        return None
    assert history.legal_basis and history.reason_ko and history.reason_en  # the schema's check
    return HistoryExemption(PurposeId(spec.id), history.legal_basis, history.reason_ko,
                            history.reason_en)


def _purposes(check: _Checker, data: Any,
              channels: Mapping[Channel, ContactChannel]) -> dict[str, Purpose | None]:
    """Marketing needs the customer's consent (개인정보 보호법 제22조, 신용정보법 제32조) and a
    named contact channel (정보통신망법 제50조: consent to advertising is per channel)."""
    name = "purposes.yaml"
    entries = _entries(check, schema.PurposesFile, data, name, "purposes")
    known = _unique(check, name, "purpose", ((("purposes", i), e) for i, e in entries))
    result: dict[str, Purpose | None] = {ident: None for ident in known}
    for i, entry in entries:
        path: YamlPath = ("purposes", i)
        spec = check.validate(schema.PurposeSpec, entry, name, path)
        if spec is None or known.get(spec.id) != path:
            continue
        ok = True
        if spec.marketing and spec.channel is None:
            check.at(name, path + ("marketing",), C.MARKETING_WITHOUT_CHANNEL, purpose=spec.id)
            ok = False
        if spec.marketing and not spec.consent_required:
            check.at(name, path + ("consent_required",), C.MARKETING_WITHOUT_CONSENT,
                     purpose=spec.id)
            ok = False
        if not spec.marketing and spec.channel is not None:
            check.at(name, path + ("channel",), C.CHANNEL_NOT_MARKETING, purpose=spec.id)
            ok = False
        elif spec.channel is not None and _channel(spec.channel) not in channels:
            check.at(name, path + ("channel",), C.UNKNOWN_CHANNEL,
                     suggest(spec.channel, _channel_names(channels)), channel=spec.channel,
                     known=_channel_list(channels))
            ok = False
        if ok:
            result[spec.id] = Purpose(
                id=PurposeId(spec.id), name_ko=spec.name_ko, name_en=spec.name_en,
                legal_bases=spec.legal_basis, marketing=spec.marketing,
                consent_required=spec.consent_required, notify_customer=spec.notify_customer,
                retention_days=spec.retention_days, channel=spec.channel,
                history_exemption=_history_exemption(spec),
                **_carried(spec, Purpose, _PURPOSE_BUILT),
            )
    return result


# --- rate limits and alerts (issue #12) --------------------------------------------------------
_SUBJECT = re.compile(r"[^\W_][\w.@-]{0,127}")  # as the authenticator accepts `sub`


def _limits(check: _Checker, data: Any) -> RateLimits:
    """`limits:` of affiliates.yaml: defaults for every system and every employee, replaced per
    system (and per named employee or batch job) measure by measure. Each measure is checked on
    its own, so every bad value is reported at once (P070–P074), and no value is echoed but a
    number the officer wrote next to the other."""
    name = "affiliates.yaml"
    raw = data.get("limits") if isinstance(data, dict) else None
    if raw is None:
        return RateLimits()
    spec = check.validate(schema.LimitsSpec, raw, name, ("limits",))
    if spec is None:
        return RateLimits()
    path: YamlPath = ("limits",)
    system_default = _measures(check, spec.system, path + ("system",), "every system",
                               "모든 시스템 합계")
    employee_default = _measures(check, spec.employee, path + ("employee",), "every employee",
                                 "모든 직원(각자)")
    overrides: dict[str, schema.SystemLimitsSpec] = {}
    for system, entry in spec.systems.items():
        where = path + ("systems", system)
        if system not in check.system_owner:
            if check.system_owner:
                check.at(name, where, C.UNKNOWN_SYSTEM, ident=system)
            continue
        found = check.validate(schema.SystemLimitsSpec, entry if entry is not None else {},
                               name, where)
        if found is not None:
            overrides[system] = found
    systems: dict[SystemId, Limits] = {}
    employees: dict[SystemId, Limits] = {}
    named: dict[tuple[SystemId, str], Limits] = {}
    for system in check.system_owner:
        sid = SystemId(system)
        own = overrides.get(system)
        total, each = system_default, employee_default
        if own is not None:
            where = path + ("systems", system)
            total = total.merged(_measures(check, own.system, where + ("system",),
                                           f"system `{system}`", f"시스템 `{system}` 합계"))
            each = each.merged(_measures(check, own.employee, where + ("employee",),
                                         f"each employee of `{system}`",
                                         f"시스템 `{system}`의 직원(각자)"))
            for subject, measures in own.employees.items():
                spot = where + ("employees", subject)
                if not _SUBJECT.fullmatch(subject):
                    check.at(name, spot, C.INVALID_LIMIT_SUBJECT, system=system)
                    continue
                named[(sid, subject)] = each.merged(_measures(
                    check, measures, spot, f"`{subject}` of `{system}`",
                    f"시스템 `{system}`의 `{subject}`"))
        if not total.empty:
            systems[sid] = total
        if not each.empty:
            employees[sid] = each
    return RateLimits(systems=_frozen(systems), employees=_frozen(employees),
                      named=_frozen({k: v for k, v in named.items() if not v.empty}))


def _measures(check: _Checker, raw: Any, path: YamlPath, scope: str, scope_ko: str) -> Limits:
    """One subject's measures; a bad one is reported and left out (the rest still apply)."""
    name = "affiliates.yaml"
    if raw is None:
        return Limits()
    if not isinstance(raw, dict):
        check.at(name, path, C.LIMITS_NOT_A_MAPPING, scope=scope, scope_ko=scope_ko)
        return Limits()
    found: dict[str, RateLimit] = {}
    for measure, value in raw.items():
        where = path + (measure,)
        if measure not in schema.MEASURES:
            check.at(name, where, C.UNKNOWN_MEASURE, measure=measure, scope=scope,
                     scope_ko=scope_ko, known=", ".join(f"`{m}`" for m in schema.MEASURES))
            continue
        try:
            limit = schema.LimitSpec.model_validate(value)
        except ValidationError:
            check.at(name, where, C.INVALID_LIMIT, measure=measure, scope=scope,
                     scope_ko=scope_ko)
            continue
        if limit.alert is not None and limit.alert >= limit.limit:
            check.at(name, where + ("alert",), C.ALERT_NOT_BELOW_LIMIT, measure=measure,
                     scope=scope, scope_ko=scope_ko, alert=limit.alert, limit=limit.limit)
            continue
        found[measure] = RateLimit(limit.limit, limit.alert)
    return Limits(**found)


# --- attributes and their views ----------------------------------------------------------------
_ATTRIBUTE_BUILT = ("id", "name_ko", "name_en", "owner", "category", "type", "source", "views")


def _attributes(check: _Checker, data: Any,
                affiliates: Mapping[str, Affiliate | None]) -> dict[str, Attribute | None]:
    name = "attributes.yaml"
    entries = _entries(check, schema.AttributesFile, data, name, "attributes")
    known = _unique(check, name, "attribute", ((("attributes", i), e) for i, e in entries))
    result: dict[str, Attribute | None] = {ident: None for ident in known}
    for i, entry in entries:
        path: YamlPath = ("attributes", i)
        spec = check.validate(schema.AttributeSpec, entry, name, path)
        if spec is None or known.get(spec.id) != path:
            continue
        ok = True
        if affiliates and spec.owner not in affiliates:
            check.unknown(name, path + ("owner",), C.UNKNOWN_AFFILIATE, "affiliate", spec.owner)
            ok = False
        views: dict[ViewName, View] = {}
        for view_name, params in spec.views.items():
            view = _view(check, name, path + ("views", view_name), spec, view_name, params)
            if view is None:
                ok = False
            else:
                views[ViewName(view_name)] = view
        if ok:
            result[spec.id] = Attribute(
                id=AttributeId(spec.id), name_ko=spec.name_ko, name_en=spec.name_en,
                owner=AffiliateId(spec.owner), category=spec.category, type=spec.type,
                source=Source(spec.source.table, spec.source.column), views=_frozen(views),
                **_carried(spec, Attribute, _ATTRIBUTE_BUILT),
            )
    return result


def _rrn_view_allowed(view: View) -> bool:
    """The RRN is shown masked (`900101-1******`), or exact for re-identification only: which
    purposes may use the exact view is the rule check's business (`checks/unique_identifiers`)."""
    return (isinstance(view, MaskedView) and view.style == "rrn") or isinstance(view, ExactView)


def _view(check: _Checker, name: str, path: YamlPath, attribute: schema.AttributeSpec,
          view_name: str, params: dict[str, Any]) -> View | None:
    kind = params.get("kind")
    cls = VIEW_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(f"`{k}`" for k in VIEW_KINDS)
        where = path + ("kind",) if "kind" in params else path
        hint = suggest(kind, {k: () for k in VIEW_KINDS}) if isinstance(kind, str) else None
        check.at(name, where, C.UNKNOWN_VIEW_KIND, hint, view=view_name, kind=kind, known=known)
        return None
    view = check.validate(cls, {k: v for k, v in params.items() if k != "kind"}, name, path)
    if view is None:
        return None
    problem = view.type_problem(attribute.type)
    if problem is not None:
        check.at(name, path, C.VIEW_TYPE_MISMATCH, view=view_name, detail=problem)
        return None
    if attribute.id == RRN_ATTRIBUTE and not _rrn_view_allowed(view):
        check.at(name, path, C.RRN_VIEW, attribute=RRN_ATTRIBUTE, view=view_name)
        return None
    return view


# --- rules -------------------------------------------------------------------------------------
def _rules(check: _Checker, data: Any, affiliates: Mapping[str, Affiliate | None],
           attributes: Mapping[str, Attribute | None],
           purposes: Mapping[str, Purpose | None]) -> list[Rule]:
    name = "rules.yaml"
    entries = _entries(check, schema.RulesFile, data, name, "rules")
    known = _unique(check, name, "rule", ((("rules", i), e) for i, e in entries))
    raw_attributes = _raw_views(check.docs.get("attributes.yaml"))
    rules: list[Rule] = []
    for i, entry in entries:
        path: YamlPath = ("rules", i)
        spec = check.validate(schema.RuleSpec, entry, name, path)
        if spec is None or known.get(spec.id) != path:
            continue
        before = len(check.problems)
        # An unreadable neighbour file already has its own problems; don't echo them here.
        if affiliates and spec.recipient not in affiliates:
            check.unknown(name, path + ("recipient",), C.UNKNOWN_AFFILIATE, "affiliate",
                          spec.recipient)
        if purposes and spec.purpose not in purposes:
            check.unknown(name, path + ("purpose",), C.UNKNOWN_PURPOSE, "purpose", spec.purpose)
        for j, system in enumerate(spec.systems or ()):
            owner = check.system_owner.get(system)
            if owner is None and affiliates:
                check.unknown(name, path + ("systems", j), C.UNKNOWN_SYSTEM, "system", system)
            elif owner is not None and owner != spec.recipient:
                check.at(name, path + ("systems", j), C.FOREIGN_SYSTEM, system=system,
                         owner=owner, recipient=spec.recipient)
        for attr_id, view_names in spec.attributes.items():
            where = path + ("attributes", attr_id)
            if raw_attributes is not None and attr_id not in raw_attributes:
                check.unknown(name, where, C.UNKNOWN_ATTRIBUTE, "attribute", attr_id)
                continue
            declared = raw_attributes.get(attr_id, {}) if raw_attributes else {}
            for view_name in view_names:
                if declared and view_name not in declared:
                    choices = ", ".join(f"`{v}`" for v in declared)
                    check.at(name, where, C.VIEW_NOT_DEFINED,
                             suggest(view_name, {v: () for v in declared}), attribute=attr_id,
                             view=view_name, choices=choices)
        if len(check.problems) == before:
            rules.append(Rule(
                id=spec.id, description=spec.description, recipient=AffiliateId(spec.recipient),
                purpose=PurposeId(spec.purpose),
                systems=frozenset(SystemId(s) for s in spec.systems) if spec.systems else None,
                attributes=_frozen({AttributeId(a): tuple(ViewName(v) for v in vs)
                                    for a, vs in spec.attributes.items()}),
            ))
    return rules


FILTERABLE_KINDS = frozenset({"boolean", "bucketed", "generalized"})
CAMPAIGN_RETENTION_48_2_DAYS = RETENTION_48_2_DAYS


def _segments(check: _Checker, data: Any, affiliates: Mapping[str, Affiliate | None],
              attributes: Mapping[str, Attribute | None],
              purposes: Mapping[str, Purpose | None]) -> list[Segment]:
    """What campaigns may filter on: known recipient, marketing purposes, attributes and views
    of a filterable kind. A purpose that may run campaigns under 금융지주회사법 제48조의2 keeps
    data at most 30 days."""
    name = "rules.yaml"
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        return []
    listed = list(enumerate(data["segments"]))
    known = _unique(check, name, "segment", ((("segments", i), e) for i, e in listed))
    segments: list[Segment] = []
    for i, entry in listed:
        path: YamlPath = ("segments", i)
        spec = check.validate(schema.SegmentSpec, entry, name, path)
        if spec is None or known.get(spec.id) != path:
            continue
        before = len(check.problems)
        if affiliates and spec.recipient not in affiliates:
            check.unknown(name, path + ("recipient",), C.UNKNOWN_AFFILIATE, "affiliate",
                          spec.recipient)
        for j, pid in enumerate(spec.purposes):
            purpose = purposes.get(pid)
            if pid not in purposes:
                check.unknown(name, path + ("purposes", j), C.UNKNOWN_PURPOSE, "purpose", pid)
            elif purpose is not None and not purpose.marketing:
                check.at(name, path + ("purposes", j), C.SEGMENT_PURPOSE_NOT_MARKETING,
                         segment=spec.id, purpose=pid)
            elif purpose is not None and purpose.retention_days > CAMPAIGN_RETENTION_48_2_DAYS \
                    and any(LEGAL_BASIS_48_2 in basis for basis in purpose.legal_bases):
                check.at(name, path + ("purposes", j), C.CAMPAIGN_RETENTION_48_2, purpose=pid,
                         days=purpose.retention_days)
        for j, system in enumerate(spec.systems or ()):
            owner = check.system_owner.get(system)
            if owner is None and affiliates:
                check.unknown(name, path + ("systems", j), C.UNKNOWN_SYSTEM, "system", system)
            elif owner is not None and owner != spec.recipient:
                check.at(name, path + ("systems", j), C.FOREIGN_SYSTEM, system=system,
                         owner=owner, recipient=spec.recipient)
        for attr_id, view_names in spec.attributes.items():
            where = path + ("attributes", attr_id)
            if attr_id not in attributes:
                check.unknown(name, where, C.UNKNOWN_ATTRIBUTE, "attribute", attr_id)
                continue
            attribute = attributes[attr_id]
            if attribute is None:
                continue
            for view_name in view_names:
                view = attribute.views.get(ViewName(view_name))
                if view is None:
                    check.at(name, where, C.VIEW_NOT_DEFINED,
                             suggest(view_name, {v: () for v in attribute.views}),
                             attribute=attr_id, view=view_name,
                             choices=", ".join(f"`{v}`" for v in attribute.views))
                elif view.kind not in FILTERABLE_KINDS:
                    check.at(name, where, C.SEGMENT_VIEW_NOT_FILTERABLE, segment=spec.id,
                             attribute=attr_id, view=view_name)
        if len(check.problems) == before:
            segments.append(Segment(
                id=spec.id, recipient=AffiliateId(spec.recipient),
                purposes=frozenset(PurposeId(p) for p in spec.purposes),
                systems=frozenset(SystemId(s) for s in spec.systems) if spec.systems else None,
                attributes=_frozen({AttributeId(a): tuple(ViewName(v) for v in vs)
                                    for a, vs in spec.attributes.items()}),
            ))
    return segments


def _declared_names(raw: Mapping[str, Any]) -> dict[str, dict[str, tuple[str, ...]]]:
    """kind → id → (name_ko, name_en) of every entry that has an id, read leniently."""
    def listed(file: str, key: str) -> list[Any]:
        data = raw.get(file)
        entries = data.get(key) if isinstance(data, dict) else None
        return entries if isinstance(entries, list) else []

    def names(entry: Any) -> tuple[str, ...]:
        return tuple(n for n in (entry.get("name_ko"), entry.get("name_en"))
                     if isinstance(n, str) and n)

    found: dict[str, dict[str, tuple[str, ...]]] = {
        kind: {} for kind in ("affiliate", "system", "purpose", "attribute", "channel")}
    for kind, file, key in (("affiliate", "affiliates.yaml", "affiliates"),
                            ("purpose", "purposes.yaml", "purposes"),
                            ("attribute", "attributes.yaml", "attributes"),
                            ("channel", "purposes.yaml", "channels")):
        for entry in listed(file, key):
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                found[kind].setdefault(entry["id"], names(entry))
    for affiliate in listed("affiliates.yaml", "affiliates"):
        systems = affiliate.get("systems") if isinstance(affiliate, dict) else None
        for system in systems if isinstance(systems, list) else []:
            if isinstance(system, dict) and isinstance(system.get("id"), str):
                found["system"].setdefault(system["id"], names(system))
    if not found["channel"]:
        found["channel"] = _channel_names(DEFAULT_CHANNELS)
    for entry in listed("attributes.yaml", "attributes"):  # the views of each attribute
        views = entry.get("views") if isinstance(entry, dict) else None
        if isinstance(views, dict) and isinstance(entry.get("id"), str):
            found[f"view:{entry['id']}"] = {str(v): () for v in views}
    return found


def _raw_views(doc: Document | None) -> dict[str, dict[str, Any]] | None:
    """Attribute id → declared view names, read leniently so that one bad attribute does not
    make every rule that names it look wrong too. None when the file could not be read."""
    if doc is None or not isinstance(doc.data, dict):
        return None
    entries = doc.data.get("attributes")
    if not isinstance(entries, list):
        return None
    views: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            declared = entry.get("views")
            views.setdefault(entry["id"], declared if isinstance(declared, dict) else {})
    return views
