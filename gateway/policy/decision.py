"""The pure decision: which requested attributes a recipient gets, in which view, and why not.

Default deny, as in Cedar's authorizer: an attribute is released only when a rule grants it to
the caller's affiliate for the declared purpose, in a view the rule lists, and — where the
purpose or the attribute's category needs it — a consent covers it at `request.now`.
A consent that cannot be evaluated (an error) never grants; the error is carried in the result.

Consent rules: 개인정보 보호법 제17조 (provision to a third party needs consent naming the
recipient and purpose), 제22조 (marketing consent is separate), 제23조 (sensitive data needs its
own explicit consent), 제37조 (withdrawal takes effect at once); 신용정보법 제32조·제33조.

Marketing (issue #10): the consent must name the purpose's contact channel (정보통신망법 제50조
①②), must have been (re)confirmed within the policy's `reconfirm_days` (제50조 ⑧) and recorded
with the notice of the right to refuse (개인정보 보호법 제22조 ⑤); a contact stop (수신거부,
연락중지청구: 신용정보법 제37조 ②) covering the recipient and channel beats any consent; and
every release carries the contact window the consent allows (제50조 ③: 21:00–08:00 KST only
with the night flag). The customer's stops come in as data, like the consents.

Frequency caps (issue #10): a contact attribute (category `contact`) released under a marketing
purpose whose channel has a `cap` is withheld as `contact_cap` once the customer has been
contacted `cap.max` times on that channel within the cap's window. The count comes in as data
(`contacts`); the log writer re-checks it under the append lock (`marketing/caps.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from gateway.domain import (
    AttributeId,
    AttributeRequest,
    Category,
    ConsentId,
    ConsentRecord,
    ContactStop,
    Decision,
    DecisionRequest,
    Reason,
    Released,
    ViewName,
    Withheld,
)
from gateway.errors import UnknownAttribute, UnknownPurpose, UnknownView
from gateway.marketing.windows import contact_window
from gateway.policy import trace as tr
from gateway.policy.model import Attribute, Policy, Purpose, Rule

T = TypeVar("T")


def decide(policy: Policy, request: DecisionRequest,
           consents: Sequence[ConsentRecord], *,
           stops: Sequence[ContactStop] = (), contacts: int = 0,
           trace: tr.DecisionTrace | None = None) -> Decision:
    """Decide every requested attribute, in request order; raises on a malformed request only.

    `stops` are the customer's contact stops; only marketing purposes read them. `contacts` is
    how often the customer was contacted on the purpose's channel within its cap's window
    (across all affiliates); at the cap, contact attributes are withheld. With `trace`,
    the steps taken are also written into it (for `policy explain`); the decision itself is the
    same either way.
    """
    purpose = policy.purposes.get(request.purpose)
    if purpose is None:
        raise UnknownPurpose("the declared purpose is not in the policy")

    released: list[Released] = []
    withheld: list[Withheld] = []
    errors: list[str] = []
    stop = _stopping(request, purpose, stops, errors)
    capped = _capped(policy, purpose, contacts)
    if trace is None and request.customer_known:
        # the request path: the rules' part of the answer is looked up, not worked out
        planned = _request_plan(policy, request, purpose)
        if planned.settled is not None and stop is None:
            return planned.settled  # nothing waits on a consent, no stop: the rules decided
        return _weigh(policy, request, purpose, planned, consents, errors, stop, capped)

    for position, item in enumerate(request.attributes, start=1):
        _check_known(policy, item, position)
    rules = policy.rules_for(request.caller.affiliate, purpose.id)
    if trace is not None:
        trace.rules = tuple(r.id for r in rules)
        trace.contact_stop = stop.id if stop is not None else None
    for item in request.attributes:
        step = None
        if trace is not None:
            step = tr.AttributeTrace(item.attribute, item.view)
            trace.attributes.append(step)
        decided = _decide_one(policy, request, purpose, rules, item, consents, errors, step,
                              stop, capped=capped)
        assert not isinstance(decided, _NeedsConsent)  # only `plan_only` returns one
        if isinstance(decided, Released):
            released.append(decided)
        else:
            withheld.append(decided)
    return _decision(policy, purpose, released, withheld, errors, stop)


def _decision(policy: Policy, purpose: Purpose, released: list[Released],
              withheld: list[Withheld], errors: list[str],
              stop: ContactStop | None) -> Decision:
    consent_ids: tuple[ConsentId, ...] = ()
    rule_ids: tuple[str, ...] = ()
    if released:
        consent_ids = _unique([r.consent for r in released if r.consent is not None])
        rule_ids = _unique([r.rule for r in released])
    return Decision.made(
        tuple(released), tuple(withheld), policy.version, purpose.id, consent_ids, rule_ids,
        tuple(dict.fromkeys(errors)) if errors else (),  # errors
        (stop.id,) if stop is not None and any(  # stop_ids
            w.reason is Reason.CONTACT_STOP for w in withheld) else (),
    )


@dataclass(frozen=True, slots=True)
class _NeedsConsent:
    """What the rules decided for an attribute whose release still waits on a consent."""

    released: Released  # as released when a consent covers it (its `consent` filled in then)
    attribute: Attribute  # the catalogue's entry: its category picks the consent


_Plan = Released | Withheld | _NeedsConsent


@dataclass(frozen=True, slots=True)
class _RequestPlan:
    """The rules' part of a whole request: each attribute's plan, in request order, and the
    finished decision when none of them waits on a consent (a contact stop still applies)."""

    plans: tuple[_Plan, ...]
    settled: Decision | None
    reconfirm: timedelta  # the policy's `reconfirm_days`


_PlanKey = tuple[str, str, str, str, str | None]
_RequestKey = tuple[str, str, str, tuple[AttributeRequest, ...]]
# The rules' part of the decision depends only on (recipient, system, purpose, attribute,
# requested view) and the policy, which is immutable: it is worked out once per policy and
# key, then looked up; so is a whole request's, for the first `_REQUESTS_KEPT` distinct
# attribute lists (a request beyond those is planned from the per-attribute plans each time).
# Kept for the last few policies (a reload makes a new one).
_PLAN_CACHE: dict[int, tuple[Policy, dict[_PlanKey, _Plan],
                             dict[_RequestKey, _RequestPlan]]] = {}
_PLAN_LOCK = threading.Lock()
_POLICIES_KEPT = 4
_REQUESTS_KEPT = 4096


def _plans(policy: Policy) -> tuple[dict[_PlanKey, _Plan], dict[_RequestKey, _RequestPlan]]:
    entry = _PLAN_CACHE.get(id(policy))
    if entry is not None and entry[0] is policy:
        return entry[1], entry[2]
    with _PLAN_LOCK:
        if len(_PLAN_CACHE) >= _POLICIES_KEPT:
            _PLAN_CACHE.clear()
        plans: dict[_PlanKey, _Plan] = {}
        requests: dict[_RequestKey, _RequestPlan] = {}
        _PLAN_CACHE[id(policy)] = (policy, plans, requests)  # holding it keeps its id unique
        return plans, requests


def _request_plan(policy: Policy, request: DecisionRequest, purpose: Purpose) -> _RequestPlan:
    """The request's plan: looked up, or worked out from its attributes' plans (checking that
    every attribute is known first: a request error wins over any answer)."""
    plans, requests = _plans(policy)
    caller = request.caller
    key = (caller.affiliate, caller.system, purpose.id, tuple(request.attributes))
    found = requests.get(key)
    if found is not None:
        return found
    items: list[_Plan] = []
    for position, item in enumerate(request.attributes, start=1):
        item_key = (caller.affiliate, caller.system, purpose.id, item.attribute, item.view)
        plan = plans.get(item_key)
        if plan is None:  # first time for this attribute: checked, worked out and kept
            _check_known(policy, item, position)
            plan = plans[item_key] = _decide_one(
                policy, request, purpose, policy.rules_for(caller.affiliate, purpose.id),
                item, (), [], plan_only=True)
        items.append(plan)
    settled = None
    if not any(type(plan) is _NeedsConsent for plan in items):
        settled = _decision(policy, purpose, [p for p in items if isinstance(p, Released)],
                            [p for p in items if isinstance(p, Withheld)], [], None)
    found = _RequestPlan(tuple(items), settled, timedelta(days=policy.reconfirm_days))
    if len(requests) < _REQUESTS_KEPT:
        requests[key] = found
    return found


# per category of a request: why no consent covers it, or the consent relied on and the
# contact window it allows (marketing only)
_Weighed = dict[Category, tuple[Reason | None, ConsentRecord | None, str | None]]


def _weigh(policy: Policy, request: DecisionRequest, purpose: Purpose, planned: _RequestPlan,
           consents: Sequence[ConsentRecord], errors: list[str], stop: ContactStop | None,
           capped: bool) -> Decision:
    """The request's own part of a planned answer: its contact stop, its consents, then the
    channel's frequency cap.

    Which consent covers an attribute depends on the attribute only through its category, so
    the consents are weighed once per category of the request (`weighed`)."""
    released: list[Released] = []
    withheld: list[Withheld] = []
    weighed: _Weighed = {}
    standings: dict[int, str | None] = {}
    for plan in planned.plans:
        if type(plan) is Released:
            if stop is None:
                released.append(plan)
            else:  # a stop beats any consent: the consents are not even weighed
                withheld.append(_stopped(plan.attribute, request, purpose))
        elif type(plan) is _NeedsConsent:
            granted = plan.released
            if stop is not None:
                withheld.append(_stopped(granted.attribute, request, purpose))
                continue
            attribute = plan.attribute
            category = attribute.category
            found = weighed.get(category)
            if found is None:
                reason, consent = _consent(request, purpose, attribute, consents, errors,
                                           reconfirm=planned.reconfirm, standings=standings)
                window = (contact_window(consent.night_contact)
                          if consent is not None and purpose.marketing else None)
                found = weighed[category] = (reason, consent, window)
            reason, consent, window = found
            # `_covered`'s common case, inline (its window worked out once per category): the
            # call cost the marketing decision a quarter of a microsecond per attribute
            if consent is not None and not (capped and category is Category.CONTACT):
                released.append(granted.relying_on(consent.id, window))
                continue
            outcome = _covered(policy, purpose, attribute, granted, reason, consent, capped)
            if isinstance(outcome, Released):
                released.append(outcome)
            else:
                withheld.append(outcome)
        else:
            assert isinstance(plan, Withheld)
            withheld.append(plan)
    return _decision(policy, purpose, released, withheld, errors, stop)


def _capped(policy: Policy, purpose: Purpose, contacts: int) -> bool:
    """Whether the purpose's channel cap is reached: `contacts` made in the window ≥ `max`."""
    if not purpose.marketing:
        return False
    cap = policy.cap_for(purpose.channel)
    return cap is not None and contacts >= cap.max


def _stopping(request: DecisionRequest, purpose: Purpose, stops: Sequence[ContactStop],
              errors: list[str]) -> ContactStop | None:
    """The contact stop that bars this marketing release, if any (the earliest registered).
    A stop that cannot be evaluated counts as in force: a stop must never fail open."""
    if not purpose.marketing or purpose.channel is None:
        return None
    found: list[ContactStop] = []
    for stop in stops:
        try:
            if stop.covers(request.caller.affiliate, purpose.channel, request.now):
                found.append(stop)
        except TypeError:  # e.g. a naive timestamp: treat as in force
            errors.append(f"contact stop `{stop.id}` could not be evaluated: timestamps lack "
                          "a time zone; treated as in force")
            found.append(stop)
    return min(found, key=lambda s: (s.registered_at.timestamp(), s.id), default=None)


def _check_known(policy: Policy, item: AttributeRequest, position: int) -> None:
    """A request error names the item by its position and, once it is known, the catalogue's
    attribute; never the value that was sent (an API error must not echo its input)."""
    attribute = policy.attributes.get(item.attribute)
    if attribute is None:
        raise UnknownAttribute(f"attribute #{position} asked for is not in the catalogue")
    if item.view is not None and item.view not in attribute.views:
        raise UnknownView(f"the view asked for attribute #{position} (`{attribute.id}`) is not "
                          "one of its views")


def _decide_one(policy: Policy, request: DecisionRequest, purpose: Purpose,
                rules: tuple[Rule, ...], item: AttributeRequest,
                consents: Sequence[ConsentRecord], errors: list[str],
                step: tr.AttributeTrace | None = None,
                stop: ContactStop | None = None, *, plan_only: bool = False,
                capped: bool = False) -> _Plan:
    """One attribute; with `plan_only`, the rules' part alone (`_NeedsConsent` where a
    consent must still cover it), which holds for every request with the same key: the
    stop and the consents are the request's own, weighed by `_weigh`."""
    attribute = policy.attributes[item.attribute]
    if not request.customer_known:
        return Withheld(item.attribute, Reason.CUSTOMER_UNKNOWN, "customer is not known to the "
                        "recipient")

    granting = [r for r in rules if item.attribute in r.attributes]
    if not granting:
        return Withheld(item.attribute, Reason.NO_RULE,
                        f"no rule grants it to `{request.caller.affiliate}` for `{purpose.id}`")
    permitted = [r for r in granting if r.permits_system(request.caller.system)]
    if step is not None:
        step.granting_rules = tuple(r.id for r in granting)
        step.permitting_rules = tuple(r.id for r in permitted)
        step.allowed_views = tuple(_allowed_views(attribute, permitted))
    if not permitted:
        return Withheld(item.attribute, Reason.SYSTEM_NOT_PERMITTED,
                        f"rules grant it only to other systems than `{request.caller.system}`")

    chosen = _choose_view(attribute, permitted, item.view)
    if chosen is None:
        allowed = _allowed_views(attribute, permitted)
        return Withheld(item.attribute, Reason.VIEW_NOT_ALLOWED,
                        f"view `{item.view}` is not allowed: allowed "
                        + ", ".join(f"`{v}`" for v in allowed))
    view, rule = chosen
    if step is not None:
        step.view, step.rule = view, rule.id

    needs_consent = purpose.consent_required or attribute.category is Category.SENSITIVE
    if plan_only:
        granted = Released(item.attribute, view, rule.id, None)
        return _NeedsConsent(granted, attribute) if needs_consent else granted
    if stop is not None:
        return _stopped(item.attribute, request, purpose)
    if not needs_consent:
        return Released(item.attribute, view, rule.id, None)
    checks = None
    if step is not None:
        step.consent_needed = "purpose" if purpose.consent_required else "sensitive category"
        checks = step.consents
    reason, consent = _consent(request, purpose, attribute, consents, errors, checks,
                               reconfirm=timedelta(days=policy.reconfirm_days))
    if step is not None:
        step.relied_on = consent.id if consent is not None else None
    return _covered(policy, purpose, attribute, Released(item.attribute, view, rule.id, None),
                    reason, consent, capped)


def _stopped(attribute: str, request: DecisionRequest, purpose: Purpose) -> Withheld:
    # A stop beats any consent (신용정보법 제37조 ②): the consents are not even weighed.
    return Withheld(AttributeId(attribute), Reason.CONTACT_STOP,
                    f"a contact stop covers channel `{purpose.channel}` for "
                    f"`{request.caller.affiliate}`")


def _covered(policy: Policy, purpose: Purpose, attribute: Attribute, granted: Released,
             reason: Reason | None, consent: ConsentRecord | None,
             capped: bool = False) -> Released | Withheld:
    """The release the rules granted, relying on `consent`, or withheld for `reason`; a
    consented contact attribute beyond the channel's cap is withheld as `contact_cap`."""
    if consent is not None and capped and attribute.category is Category.CONTACT:
        cap = policy.cap_for(purpose.channel)
        assert cap is not None  # `capped` only where the channel has a cap
        return Withheld(granted.attribute, Reason.CONTACT_CAP,
                        f"contacted {cap.max} times on `{purpose.channel}` within "
                        f"{cap.window_days} days: the cap is reached")
    if consent is not None:
        window = contact_window(consent.night_contact) if purpose.marketing else None
        return granted.relying_on(consent.id, window)
    assert reason is not None
    return Withheld(granted.attribute, reason, _CONSENT_DETAIL[reason].format(
        category=attribute.category.value, purpose=purpose.id, days=policy.reconfirm_days))


def _allowed_views(attribute: Attribute, rules: Sequence[Rule]) -> list[ViewName]:
    """The union of views the rules allow, least revealing first (the catalogue's order)."""
    allowed = {v for r in rules for v in r.attributes[attribute.id]}
    return [v for v in attribute.views if v in allowed]


def _choose_view(attribute: Attribute, rules: Sequence[Rule],
                 requested: ViewName | None) -> tuple[ViewName, Rule] | None:
    """The requested view if a rule lists it, else (no view asked) the least revealing allowed;
    the rule credited is the first in file order that lists the view."""
    allowed = _allowed_views(attribute, rules)
    if requested is None:
        view = allowed[0]
    elif requested in allowed:
        view = requested
    else:
        return None
    rule = next(r for r in rules if view in r.attributes[attribute.id])
    return view, rule


_CONSENT_DETAIL = {
    Reason.NO_CONSENT: "no consent covers `{category}` data for `{purpose}`",
    Reason.CONSENT_WITHDRAWN: "the consent covering `{category}` data for `{purpose}` was withdrawn",
    Reason.CONSENT_EXPIRED: "the consent covering `{category}` data for `{purpose}` has expired",
    Reason.CONSENT_UNCONFIRMED: "the consent covering `{category}` data for `{purpose}` needs "
                                "reconfirmation: not confirmed within {days} days, or without "
                                "the notice of the right to refuse",
}


def _consent(request: DecisionRequest, purpose: Purpose, attribute: Attribute,
             consents: Sequence[ConsentRecord], errors: list[str],
             checks: list[tr.ConsentCheck] | None = None, *, reconfirm: timedelta,
             standings: dict[int, str | None] | None = None
             ) -> tuple[Reason | None, ConsentRecord | None]:
    """The consent relied on, or the reason none applies (withdrawn beats expired beats
    unconfirmed beats none). Marketing consents lapse `reconfirm` after their last
    confirmation, and never count without the notice of the right to refuse.

    A consent's standing does not depend on the attribute: weighing several categories of one
    request, `standings` keeps each consent's (by its position), worked out once."""
    now = request.now
    valid: list[ConsentRecord] = []
    withdrawn = expired = unconfirmed = False
    note = _no_note if checks is None else partial(_note, checks)
    for position, consent in enumerate(consents):
        miss = _mismatch(request, purpose, attribute, consent)
        if miss is not None:
            note(consent, miss)
            continue
        if standings is not None and position in standings:
            standing = standings[position]
        else:
            standing = _standing(consent, now, purpose.marketing, reconfirm)
            if standings is not None:
                standings[position] = standing
        if standing is None:
            valid.append(consent)
            continue
        note(consent, standing)
        if standing == tr.WITHDRAWN:
            withdrawn = True
        elif standing == tr.EXPIRED:
            expired = True
        elif standing in (tr.REFUSAL_RIGHT_NOT_NOTIFIED, tr.UNCONFIRMED):
            unconfirmed = True
        elif standing == tr.UNEVALUABLE:  # never grants
            errors.append(f"consent `{consent.id}` could not be evaluated: timestamps lack "
                          "a time zone")
        # tr.NOT_YET_GRANTED: as if absent
    if valid:
        # Deterministic whatever the store's order: the most recently granted, then by id.
        best = valid[0] if len(valid) == 1 else max(valid, key=lambda c: (c.granted_at, c.id))
        for consent in valid:
            note(consent, tr.COVERS if consent is best else tr.SUPERSEDED)
        return None, best
    if withdrawn:
        return Reason.CONSENT_WITHDRAWN, None
    if expired:
        return Reason.CONSENT_EXPIRED, None
    if unconfirmed:
        return Reason.CONSENT_UNCONFIRMED, None
    return Reason.NO_CONSENT, None


def _standing(consent: ConsentRecord, now: datetime, marketing: bool,
              reconfirm: timedelta) -> str | None:
    """Whether a consent about this release stands at `now`: None when it does, else the
    verdict on it (`policy explain`'s words). A timestamp without a time zone beside an aware
    one cannot be compared: `unevaluable`."""
    try:
        if consent.granted_at > now:
            return tr.NOT_YET_GRANTED
        if consent.withdrawn_at is not None and consent.withdrawn_at <= now:
            return tr.WITHDRAWN
        if consent.expires_at is not None and consent.expires_at <= now:
            return tr.EXPIRED
        if marketing and not consent.refusal_right_notified:
            return tr.REFUSAL_RIGHT_NOT_NOTIFIED
        if marketing and consent.last_confirmed + reconfirm <= now:
            return tr.UNCONFIRMED
    except TypeError:
        return tr.UNEVALUABLE
    return None


def _note(checks: list[tr.ConsentCheck], consent: ConsentRecord, verdict: str) -> None:
    """What `_consent` notes for `policy explain`: each consent and the verdict on it."""
    checks.append(tr.ConsentCheck(consent, verdict))


def _no_note(consent: ConsentRecord, verdict: str) -> None:
    """What `_consent` notes when nobody traces the decision: nothing."""


def _mismatch(request: DecisionRequest, purpose: Purpose, attribute: Attribute,
              consent: ConsentRecord) -> str | None:
    """Why `consent` is not about this release at all, or None when it is."""
    if consent.recipient != request.caller.affiliate:
        return tr.OTHER_RECIPIENT
    if consent.purpose != purpose.id:
        return tr.OTHER_PURPOSE
    if attribute.category not in consent.categories:
        return tr.CATEGORY_NOT_NAMED
    if purpose.channel is not None and consent.channel != purpose.channel:
        return tr.OTHER_CHANNEL
    return None


def _unique(items: Iterable[T]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))
