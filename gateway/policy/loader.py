"""Load and check the policy set: four YAML files in, an immutable `Policy` or every problem out.

The policy version is `sha256:` + the hex SHA-256 over the files' exact bytes, taken in sorted
file-name order, each as `name NUL length(8 bytes, big-endian) bytes`. Comments count: any
edit an officer makes, even to an explanation, is a new version in the access log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import BaseModel, ValidationError

from gateway.domain import (
    AffiliateId,
    AttributeId,
    PolicyVersion,
    PurposeId,
    SystemId,
    ViewName,
)
from gateway.policy import schema
from gateway.policy.model import (
    Affiliate,
    Attribute,
    Policy,
    PublicKey,
    Purpose,
    Rule,
    Source,
    System,
)
from gateway.policy.problems import PolicyLoadError, Problem
from gateway.policy.views import VIEW_KINDS, MaskedView, View
from gateway.policy.yamlmarks import Document, Path as YamlPath, Position, read

FILES = ("affiliates.yaml", "attributes.yaml", "purposes.yaml", "rules.yaml")
RRN_ATTRIBUTE = "rrn"  # raw national id numbers never leave the gateway (개인정보 보호법 제24조의2)

M = TypeVar("M", bound=BaseModel)


class _Checker:
    """Collects problems with their file positions while the policy is checked."""

    def __init__(self, policy_dir: Path) -> None:
        self.policy_dir = policy_dir
        self.problems: list[Problem] = []
        self.docs: dict[str, Document] = {}
        self.system_owner: dict[str, str] = {}  # every declared system, even one with a bad key

    def file(self, name: str) -> str:
        return str(self.policy_dir / name)

    def at(self, name: str, path: YamlPath, message: str) -> None:
        doc = self.docs.get(name)
        line, column = doc.position(path) if doc is not None else (1, 1)
        self.problems.append(Problem(self.file(name), line, column, message))

    def at_position(self, name: str, where: Position, message: str) -> None:
        self.problems.append(Problem(self.file(name), where[0], where[1], message))

    def validate(self, model: type[M], data: Any, name: str, path: YamlPath) -> M | None:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                self.at(name, path + tuple(error["loc"]), _message(error))
            return None


def _message(error: Any) -> str:
    """One pydantic error as one lowercase line naming the field (the input is never echoed)."""
    names = [part for part in error["loc"] if isinstance(part, str)]
    field = names[-1] if names else "entry"
    if error["type"] == "extra_forbidden":
        return f"unknown field `{field}`"
    if error["type"] == "missing":
        return f"missing field `{field}`"
    if error["type"] == "too_short":
        return f"`{field}`: needs at least {error['ctx']['min_length']} item"
    text = str(error["msg"]).removeprefix("Value error, ").rstrip(".")
    return f"`{field}`: {text[:1].lower()}{text[1:]}"


def load_policy(policy_dir: Path, public_keys_dir: Path) -> Policy:
    """Read, check and build the policy set; raise `PolicyLoadError` listing every problem."""
    check = _Checker(policy_dir)
    digest = hashlib.sha256()
    raw: dict[str, Any] = {}
    for name in sorted(FILES):
        path = policy_dir / name
        try:
            data = path.read_bytes()
        except OSError:
            check.at(name, (), "policy file is missing or unreadable")
            continue
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            check.at(name, (), "policy file is not utf-8 text")
            continue
        doc = read(text, lambda where, msg, name=name: check.at_position(name, where, msg))
        if doc is not None:
            check.docs[name] = doc
            raw[name] = doc.data

    affiliates = _affiliates(check, raw.get("affiliates.yaml"), public_keys_dir)
    purposes = _purposes(check, raw.get("purposes.yaml"))
    attributes = _attributes(check, raw.get("attributes.yaml"), affiliates)
    rules = _rules(check, raw.get("rules.yaml"), affiliates, attributes, purposes)

    if check.problems:
        order = {check.file(name): i for i, name in enumerate(FILES)}
        problems = sorted(set(check.problems),
                          key=lambda p: (order.get(p.file, 99), p.line, p.column, p.message))
        raise PolicyLoadError(problems)
    systems = {sid: s for a in affiliates.values() if a for sid, s in a.systems.items()}
    return Policy(
        version=PolicyVersion("sha256:" + digest.hexdigest()),
        affiliates=_frozen({k: v for k, v in affiliates.items() if v is not None}),
        systems=_frozen(systems),
        attributes=_frozen({k: v for k, v in attributes.items() if v is not None}),
        purposes=_frozen({k: v for k, v in purposes.items() if v is not None}),
        rules=tuple(rules),
    )


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
            check.at(name, path + ("id",), f"duplicate {kind} id `{ident}` (first at line {first})")
            continue
        seen[ident] = path
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
        spec = check.validate(schema.AffiliateSpec, entry, name, ("affiliates", i))
        if spec is None or known.get(spec.id) != ("affiliates", i):
            continue
        systems: dict[SystemId, System] = {}
        for j, sys_spec in enumerate(spec.systems):
            if sys_spec.id in seen_systems:
                continue  # reported as a duplicate above
            seen_systems.add(sys_spec.id)
            path = ("affiliates", i, "systems", j, "public_key")
            key = _public_key(check, name, path, keys_dir, sys_spec.public_key, sys_spec.algorithm)
            if key is None:
                continue
            systems[SystemId(sys_spec.id)] = System(
                id=SystemId(sys_spec.id), affiliate=AffiliateId(spec.id),
                name_ko=sys_spec.name_ko, name_en=sys_spec.name_en,
                algorithm=sys_spec.algorithm, public_key=key,
                public_key_path=sys_spec.public_key, permissions=frozenset(sys_spec.permissions),
            )
        result[spec.id] = Affiliate(
            id=AffiliateId(spec.id), name_ko=spec.name_ko, name_en=spec.name_en,
            sees_group_customers=spec.sees_group_customers, systems=_frozen(systems),
        )
    return result


def _public_key(check: _Checker, name: str, path: YamlPath, keys_dir: Path, relative: str,
                algorithm: str) -> PublicKey | None:
    """Load a system's public key and insist it is of the pinned algorithm's type (RFC 8725 §3.1)."""
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts:
        check.at(name, path, f"public key path `{relative}` must stay inside the public keys dir")
        return None
    try:
        pem = (keys_dir / rel).read_bytes()
    except OSError:
        check.at(name, path, f"public key file `{relative}` not found in the public keys dir")
        return None
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        check.at(name, path, f"public key file `{relative}` is not a pem public key")
        return None
    if algorithm == "EdDSA" and isinstance(key, Ed25519PublicKey):
        return key
    if (algorithm == "ES256" and isinstance(key, EllipticCurvePublicKey)
            and isinstance(key.curve, SECP256R1)):
        return key
    wanted = "an ed25519 key" if algorithm == "EdDSA" else "a p-256 ec key"
    check.at(name, path, f"public key `{relative}` is not {wanted}, as algorithm "
                         f"`{algorithm}` requires")
    return None


# --- purposes ----------------------------------------------------------------------------------
def _purposes(check: _Checker, data: Any) -> dict[str, Purpose | None]:
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
            check.at(name, path + ("marketing",),
                     f"marketing purpose `{spec.id}` must name a `channel`")
            ok = False
        if spec.marketing and not spec.consent_required:
            check.at(name, path + ("consent_required",),
                     f"marketing purpose `{spec.id}` must have `consent_required: true`")
            ok = False
        if not spec.marketing and spec.channel is not None:
            check.at(name, path + ("channel",),
                     f"`channel` applies only to marketing purposes, not `{spec.id}`")
            ok = False
        if ok:
            result[spec.id] = Purpose(
                id=PurposeId(spec.id), name_ko=spec.name_ko, name_en=spec.name_en,
                legal_bases=spec.legal_basis, marketing=spec.marketing,
                consent_required=spec.consent_required, notify_customer=spec.notify_customer,
                retention_days=spec.retention_days, channel=spec.channel,
            )
    return result


# --- attributes and their views ----------------------------------------------------------------
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
            check.at(name, path + ("owner",), f"unknown affiliate `{spec.owner}`")
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
            )
    return result


def _is_rrn_mask(view: View) -> bool:
    return isinstance(view, MaskedView) and view.style == "rrn"


def _view(check: _Checker, name: str, path: YamlPath, attribute: schema.AttributeSpec,
          view_name: str, params: dict[str, Any]) -> View | None:
    kind = params.get("kind")
    cls = VIEW_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(f"`{k}`" for k in VIEW_KINDS)
        where = path + ("kind",) if "kind" in params else path
        check.at(name, where, f"view `{view_name}`: unknown view kind `{kind}` (known: {known})")
        return None
    view = check.validate(cls, {k: v for k, v in params.items() if k != "kind"}, name, path)
    if view is None:
        return None
    problem = view.type_problem(attribute.type)
    if problem is not None:
        check.at(name, path, f"view `{view_name}`: {problem}")
        return None
    if attribute.id == RRN_ATTRIBUTE and not _is_rrn_mask(view):
        check.at(name, path, f"attribute `{RRN_ATTRIBUTE}` may only have views of kind "
                             f"`masked` with style `rrn`, not `{view_name}`")
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
            check.at(name, path + ("recipient",), f"unknown affiliate `{spec.recipient}`")
        if purposes and spec.purpose not in purposes:
            check.at(name, path + ("purpose",), f"unknown purpose `{spec.purpose}`")
        for j, system in enumerate(spec.systems or ()):
            owner = check.system_owner.get(system)
            if owner is None and affiliates:
                check.at(name, path + ("systems", j), f"unknown system `{system}`")
            elif owner is not None and owner != spec.recipient:
                check.at(name, path + ("systems", j), f"system `{system}` belongs to `{owner}`, "
                                                      f"not to recipient `{spec.recipient}`")
        for attr_id, view_names in spec.attributes.items():
            where = path + ("attributes", attr_id)
            if raw_attributes is not None and attr_id not in raw_attributes:
                check.at(name, where, f"unknown attribute `{attr_id}`")
                continue
            declared = raw_attributes.get(attr_id, {}) if raw_attributes else {}
            attribute = attributes.get(attr_id)
            for view_name in view_names:
                if declared and view_name not in declared:
                    choices = ", ".join(f"`{v}`" for v in declared)
                    check.at(name, where, f"attribute `{attr_id}` has no view `{view_name}` "
                                          f"(views: {choices})")
                elif attr_id == RRN_ATTRIBUTE and not _releases_rrn_masked(attribute, view_name):
                    check.at(name, where, f"attribute `{RRN_ATTRIBUTE}` may only be released "
                                          f"masked, not as `{view_name}`")
        if len(check.problems) == before:
            rules.append(Rule(
                id=spec.id, description=spec.description, recipient=AffiliateId(spec.recipient),
                purpose=PurposeId(spec.purpose),
                systems=frozenset(SystemId(s) for s in spec.systems) if spec.systems else None,
                attributes=_frozen({AttributeId(a): tuple(ViewName(v) for v in vs)
                                    for a, vs in spec.attributes.items()}),
            ))
    return rules


def _releases_rrn_masked(attribute: Attribute | None, view_name: str) -> bool:
    """Whether a rule's view of `rrn` is the masked one; when the catalogue's own entry is
    broken, only a view literally called `masked` passes."""
    if attribute is None:
        return view_name == "masked"
    view = attribute.views.get(ViewName(view_name))
    return view is not None and _is_rrn_mask(view)


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
