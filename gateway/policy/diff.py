"""`policy diff`: every access a change to the policy set opens, closes, widens or narrows.

An access is what the API would release: recipient affiliate × purpose × attribute × calling
system (one that holds the `query` permission and that a rule admits), with the views the rules
allow, the view released when none is asked for (the least revealing one), and the consent the
release depends on (purpose consent, or the explicit consent a sensitive category needs:
개인정보 보호법 제22조·제23조). How revealing a view is comes from `reveal.at_most`; a change
that is not provably narrower counts as a widening, so a reviewer is never told "no wider" when
it might be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.domain import AttributeId, Category, PurposeId
from gateway.policy.model import NO_LIMITS, Attribute, Limits, Policy, Purpose
from gateway.policy.reveal import at_most, covered, describe
from gateway.policy.views import View

QUERY = "query"


@dataclass(frozen=True, slots=True)
class Access:
    views: tuple[tuple[str, View], ...]  # allowed views, least revealing first (catalogue order)
    consent: str | None  # the consent the release depends on; None: released without one

    @property
    def default(self) -> tuple[str, View]:
        return self.views[0]  # what `decide` releases when the request names no view

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.views)


@dataclass(frozen=True, slots=True)
class AccessChange:
    """One line of the diff: an access opened, closed or changed for some systems."""

    recipient: str
    purpose: str
    attribute: str
    systems: tuple[str, ...]
    change: str  # opened, closed, widened, narrowed, changed
    widening: bool  # opened, widened, or changed in a way not provably narrower
    old_views: tuple[str, ...]
    new_views: tuple[str, ...]
    old_consent: str | None
    new_consent: str | None
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient, "purpose": self.purpose, "attribute": self.attribute,
            "systems": list(self.systems), "change": self.change, "widening": self.widening,
            "old_views": list(self.old_views), "new_views": list(self.new_views),
            "old_consent": self.old_consent, "new_consent": self.new_consent,
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class ConditionChange:
    """A change to a purpose, affiliate or system that conditions accesses (not one access)."""

    subject: str  # e.g. `purpose marketing_sms`, `affiliate card`, `system card-risk`
    field: str
    old: Any
    new: Any
    widening: bool

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "field": self.field, "old": self.old, "new": self.new,
                "widening": self.widening}


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    old_version: str
    new_version: str
    accesses: tuple[AccessChange, ...]
    conditions: tuple[ConditionChange, ...]
    labels: tuple[str, str] = field(default=("old", "new"))

    @property
    def widenings(self) -> int:
        return (sum(1 for a in self.accesses if a.widening)
                + sum(1 for c in self.conditions if c.widening))

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": {"source": self.labels[0], "version": self.old_version},
            "new": {"source": self.labels[1], "version": self.new_version},
            "widenings": self.widenings,
            "accesses": [a.as_dict() for a in self.accesses],
            "conditions": [c.as_dict() for c in self.conditions],
        }


# --- the accesses of one policy ----------------------------------------------------------------
Key = tuple[str, str, str, str]  # recipient, purpose, attribute, system


def consent_condition(purpose: Purpose, attribute: Attribute) -> str | None:
    """What consent a release of `attribute` for `purpose` needs, as `decide` checks it."""
    if not (purpose.consent_required or attribute.category is Category.SENSITIVE):
        return None
    parts = [f"purpose `{purpose.id}`", f"category `{attribute.category.value}`"]
    if purpose.channel is not None:
        parts.append(f"channel `{purpose.channel}`")
    return "consent: " + ", ".join(parts)


def accesses(policy: Policy) -> dict[Key, Access]:
    """Every access the policy grants, per recipient × purpose × attribute × system."""
    grants: dict[Key, set[str]] = {}
    for rule in policy.rules:
        affiliate = policy.affiliates.get(rule.recipient)
        if affiliate is None or rule.purpose not in policy.purposes:
            continue
        for system in affiliate.systems.values():
            if QUERY not in system.permissions or not rule.permits_system(system.id):
                continue
            for attribute_id, view_names in rule.attributes.items():
                grants.setdefault((rule.recipient, rule.purpose, attribute_id, system.id),
                                  set()).update(view_names)
    result: dict[Key, Access] = {}
    for key, names in grants.items():
        attribute = policy.attributes[AttributeId(key[2])]
        views = tuple((n, v) for n, v in attribute.views.items() if n in names)
        result[key] = Access(views, consent_condition(policy.purposes[PurposeId(key[1])],
                                                      attribute))
    return result


# --- comparing two ------------------------------------------------------------------------------
def _compare(old: Access | None, new: Access | None) -> tuple[str, bool, tuple[str, ...]] | None:
    """(change, widening, notes) for one access, or None when nothing changed."""
    if old is None and new is None:
        return None
    if old is None:
        return "opened", True, ()
    if new is None:
        return "closed", False, ()
    old_defs = [v for _, v in old.views]
    new_defs = [v for _, v in new.views]
    wider = any(not covered(v, old_defs) for v in new_defs)
    narrower = any(not covered(v, new_defs) for v in old_defs)
    notes: list[str] = []
    old_named, new_named = dict(old.views), dict(new.views)
    for name, view in new.views:
        if name not in old_named:
            notes.append(f"view `{name}` added")
        elif old_named[name] != view:
            notes.append(f"view `{name}` redefined: {describe(old_named[name])} → "
                         f"{describe(view)}")
    notes += [f"view `{name}` removed" for name, _ in old.views if name not in new_named]
    default_wider = not at_most(new.default[1], old.default[1])
    default_narrower = not at_most(old.default[1], new.default[1])
    if old.default[0] != new.default[0]:  # a redefined default is noted as redefined above
        more = " (more revealing)" if default_wider else ""
        notes.append(f"default view `{old.default[0]}` → `{new.default[0]}`{more}")
    if old.consent != new.consent:
        if new.consent is None:
            notes.append("consent no longer required")
        elif old.consent is None:
            notes.append("consent now required")
        else:
            notes.append("consent condition changed")
    if not notes:
        return None
    # A changed consent condition may let existing consents cover more: not provably narrower.
    consent_wider = old.consent is not None and old.consent != new.consent
    consent_narrower = old.consent is None and new.consent is not None
    widening = wider or default_wider or consent_wider
    narrowing = narrower or default_narrower or consent_narrower
    if widening and not narrowing:
        change = "widened"
    elif narrowing and not widening:
        change = "narrowed"
    else:
        change = "changed"
    return change, widening, tuple(notes)


def diff_accesses(old: Policy, new: Policy) -> tuple[AccessChange, ...]:
    """Changed accesses, one line per recipient × purpose × attribute × group of systems that
    changed alike; sorted by recipient, purpose, attribute, systems."""
    before, after = accesses(old), accesses(new)
    grouped: dict[tuple[Any, ...], list[str]] = {}
    for key in sorted(before.keys() | after.keys()):
        recipient, purpose, attribute, system = key
        a, b = before.get(key), after.get(key)
        found = _compare(a, b)
        if found is None:
            continue
        change, widening, notes = found
        line = (recipient, purpose, attribute, change, widening,
                a.names() if a else (), b.names() if b else (),
                a.consent if a else None, b.consent if b else None, notes)
        grouped.setdefault(line, []).append(system)
    changes = [
        AccessChange(recipient=line[0], purpose=line[1], attribute=line[2],
                     systems=tuple(sorted(systems)), change=line[3], widening=line[4],
                     old_views=line[5], new_views=line[6], old_consent=line[7],
                     new_consent=line[8], notes=line[9])
        for line, systems in grouped.items()
    ]
    return tuple(sorted(changes, key=lambda c: (c.recipient, c.purpose, c.attribute, c.systems)))


def _field_changes(subject: str, old: Mapping[str, Any], new: Mapping[str, Any],
                   wider: Mapping[str, Any]) -> list[ConditionChange]:
    """`wider[name](old, new)` says whether a change of that field widens access."""
    return [ConditionChange(subject, name, old[name], new[name], bool(test(old[name], new[name])))
            for name, test in wider.items() if old[name] != new[name]]


_PURPOSE_FIELDS = {
    "consent_required": lambda o, n: o and not n,
    "channel": lambda o, n: True,  # consents naming the new channel now count
    "marketing": lambda o, n: o and not n,
    "notify_customer": lambda o, n: o and not n,
    "retention_days": lambda o, n: n > o,
    "legal_bases": lambda o, n: False,
}


def diff_conditions(old: Policy, new: Policy) -> tuple[ConditionChange, ...]:
    """Purposes, affiliates' reach and systems' permissions that changed."""
    found: list[ConditionChange] = []
    for pid in sorted(old.purposes.keys() | new.purposes.keys()):
        subject = f"purpose `{pid}`"
        a, b = old.purposes.get(pid), new.purposes.get(pid)
        if a is None or b is None:
            found.append(ConditionChange(subject, "purpose", None if a is None else pid,
                                         None if b is None else pid, False))
            continue
        fields_a = {k: getattr(a, k) for k in _PURPOSE_FIELDS}
        fields_b = {k: getattr(b, k) for k in _PURPOSE_FIELDS}
        found += _field_changes(subject, _jsonable(fields_a), _jsonable(fields_b),
                                _PURPOSE_FIELDS)
    for aid in sorted(old.affiliates.keys() & new.affiliates.keys()):
        a_reach = old.affiliates[aid].sees_group_customers
        b_reach = new.affiliates[aid].sees_group_customers
        if a_reach != b_reach:
            found.append(ConditionChange(f"affiliate `{aid}`", "sees_group_customers", a_reach,
                                         b_reach, b_reach and not a_reach))
        a_scheme = old.affiliates[aid].pseudonym_scheme
        b_scheme = new.affiliates[aid].pseudonym_scheme
        if a_scheme != b_scheme:
            # every pseudonym the affiliate holds changes; away from `siv` integrity weakens
            found.append(ConditionChange(f"affiliate `{aid}`", "pseudonym_scheme", a_scheme,
                                         b_scheme, b_scheme != "siv"))
    if old.reconfirm_days != new.reconfirm_days:
        # a longer period keeps stale marketing consents granting longer
        found.append(ConditionChange("marketing", "reconfirm_days", old.reconfirm_days,
                                     new.reconfirm_days, new.reconfirm_days > old.reconfirm_days))
    a_channels, b_channels = sorted(c.value for c in old.channels), sorted(
        c.value for c in new.channels)
    if a_channels != b_channels:
        found.append(ConditionChange("marketing", "channels", a_channels, b_channels,
                                     bool(set(b_channels) - set(a_channels))))
    for channel in sorted(old.channels.keys() & new.channels.keys(), key=lambda c: c.value):
        a_cap, b_cap = old.channels[channel].cap, new.channels[channel].cap
        if a_cap != b_cap:
            # widening: the cap removed, more contacts allowed, or a shorter window to count in
            wider = b_cap is None or (a_cap is not None and (
                b_cap.max > a_cap.max or b_cap.window_days < a_cap.window_days))
            found.append(ConditionChange(
                f"channel `{channel.value}`", "cap",
                None if a_cap is None else {"max": a_cap.max, "window_days": a_cap.window_days},
                None if b_cap is None else {"max": b_cap.max, "window_days": b_cap.window_days},
                wider))
    a_segments = {g.id: g for g in old.segments}
    b_segments = {g.id: g for g in new.segments}
    for gid in sorted(a_segments.keys() | b_segments.keys()):
        a_seg, b_seg = a_segments.get(gid), b_segments.get(gid)
        a_filters = _segment_filters(a_seg)
        b_filters = _segment_filters(b_seg)
        if a_filters != b_filters:
            # widening: a recipient may now filter on more (a filter is a use of data)
            found.append(ConditionChange(f"segment `{gid}`", "filters", a_filters, b_filters,
                                         bool(set(b_filters) - set(a_filters))))
    found += _limit_changes(old, new)
    for sid in sorted(old.systems.keys() | new.systems.keys()):
        a_perms = sorted(old.systems[sid].permissions) if sid in old.systems else []
        b_perms = sorted(new.systems[sid].permissions) if sid in new.systems else []
        if a_perms != b_perms:
            found.append(ConditionChange(f"system `{sid}`", "permissions", a_perms, b_perms,
                                         bool(set(b_perms) - set(a_perms))))
    return tuple(found)


_MEASURES = ("requests_per_minute", "customers_per_hour", "customers_per_day")


def _limit_changes(old: Policy, new: Policy) -> list[ConditionChange]:
    """Rate limits per system, per employee and per named employee that changed (issue #12).
    Widening: a limit or an alert raised or removed (more is read before anyone is stopped or
    told)."""
    found = []
    for sid in sorted(old.systems.keys() | new.systems.keys()):
        pairs = [("limits.system", old.limits.for_system(sid), new.limits.for_system(sid)),
                 ("limits.employee", old.limits.employees.get(sid, NO_LIMITS),
                  new.limits.employees.get(sid, NO_LIMITS))]
        names = {n for s_, n in old.limits.named if s_ == sid} | {
            n for s_, n in new.limits.named if s_ == sid}
        pairs += [(f"limits.employees.{name}", old.limits.for_employee(sid, name),
                   new.limits.for_employee(sid, name)) for name in sorted(names)]
        for field_name, a, b in pairs:
            if a != b:
                found.append(ConditionChange(f"system `{sid}`", field_name, _limits_json(a),
                                             _limits_json(b), _limits_wider(a, b)))
    return found


def _limits_json(limits: Limits) -> dict[str, Any]:
    return {m: None if (r := getattr(limits, m)) is None else {"limit": r.limit, "alert": r.alert}
            for m in _MEASURES}


def _limits_wider(a: Limits, b: Limits) -> bool:
    for measure in _MEASURES:
        was, now = getattr(a, measure), getattr(b, measure)
        if was is None:
            continue
        if now is None or now.limit > was.limit:
            return True
        if was.alert is not None and (now.alert is None or now.alert > was.alert):
            return True
    return False


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def diff_policies(old: Policy, new: Policy, *,
                  labels: tuple[str, str] = ("old", "new")) -> PolicyDiff:
    return PolicyDiff(old_version=old.version, new_version=new.version,
                      accesses=diff_accesses(old, new), conditions=diff_conditions(old, new),
                      labels=labels)


# --- for a change review -----------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _views(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "—"


def to_markdown(diff: PolicyDiff) -> str:
    """A report to paste into a change review: widenings first flagged, then one table per
    recipient × purpose, then the changed conditions."""
    out = [f"## Policy diff: {diff.labels[0]} → {diff.labels[1]}", "",
           f"- old: `{diff.old_version}`", f"- new: `{diff.new_version}`"]
    count = len(diff.accesses) + len(diff.conditions)
    if not count:
        out += ["", "No access is opened, closed or changed."]
        return "\n".join(out) + "\n"
    opened = sum(1 for a in diff.accesses if a.change == "opened")
    closed = sum(1 for a in diff.accesses if a.change == "closed")
    out += ["", (f"{len(diff.accesses)} access change(s): {opened} opened, {closed} closed, "
                f"{len(diff.accesses) - opened - closed} changed; "
                f"{len(diff.conditions)} condition change(s).")]
    if diff.widenings:
        out += ["", (f"> **⚠ {diff.widenings} WIDENING(S)**: this change releases more, or "
                    "releases under weaker conditions. Review each line marked ⚠.")]
    current: tuple[str, str] | None = None
    for a in diff.accesses:
        if (a.recipient, a.purpose) != current:
            current = (a.recipient, a.purpose)
            out += ["", f"### `{a.recipient}` × `{a.purpose}`", "",
                    ("| | change | attribute | systems | old views | new views | consent "
                    "(old → new) | notes |"),
                    "|---|---|---|---|---|---|---|---|"]
        consent = (a.old_consent or "none") if a.old_consent == a.new_consent else \
            f"{a.old_consent or 'none'} → {a.new_consent or 'none'}"
        out.append("| " + " | ".join(_cell(c) for c in (
            "⚠" if a.widening else "", f"**{a.change}**" if a.widening else a.change,
            f"`{a.attribute}`", ", ".join(f"`{s}`" for s in a.systems), _views(a.old_views),
            _views(a.new_views), consent, "; ".join(a.notes))) + " |")
    if diff.conditions:
        out += ["", "### Conditions", "", "| | subject | field | old | new |",
                "|---|---|---|---|---|"]
        for c in diff.conditions:
            out.append("| " + " | ".join(_cell(x) for x in (
                "⚠" if c.widening else "", c.subject, f"`{c.field}`", f"`{c.old}`",
                f"`{c.new}`")) + " |")
    return "\n".join(out) + "\n"


def _segment_filters(segment: Any) -> list[str]:
    """`recipient/system/purpose: attribute.view` for each filter a segment allows."""
    if segment is None:
        return []
    systems = sorted(segment.systems) if segment.systems is not None else ["*"]
    return sorted(f"{segment.recipient}/{system}/{purpose}: {attribute}.{view}"
                  for system in systems for purpose in segment.purposes
                  for attribute, views in segment.attributes.items() for view in views)
