"""`policy test`: privacy officers' test cases (YAML under `<policy dir>/tests/`) run through the
very `decide` the API calls, each case passing or failing with a diff of expected vs actual.

A case file holds `cases:`, each case:

    - name: 카드 위험관리 시스템은 소득 구간만 받는다      # one line, shown in the report
      now: 2025-06-15T09:30:00+09:00                      # optional; default `DEFAULT_NOW`
      request:
        system: card-risk                                  # the calling system (its affiliate
        employee: e1001                                    #   is the recipient); employee optional
        purpose: credit_risk
        attributes: [annual_income, credit_grade: exact]   # a name, or `name: view`
        held_by: [bank, card]                              # optional: affiliates that hold the
                                                           #   customer (default: all of them)
      consents:                                            # optional: the customer's consents
        - categories: [contact, identity]                  # required
          purpose: marketing_sms                           # default: the request's purpose
          recipient: card                                  # default: the caller's affiliate
          channel: sms                                     # marketing purposes name a channel
          granted_at: 2025-01-01T00:00:00+09:00            # default: 30 days before `now`
          expires_at: 2026-01-01T00:00:00+09:00            # optional
          withdrawn_at: 2025-06-01T00:00:00+09:00          # optional
          confirmed_at: 2025-03-01T00:00:00+09:00          # optional: last reconfirmation
          night_contact: true                              # optional (default false)
          refusal_right_notified: false                    # optional (default true)
      stops:                                               # optional: contact stops (수신거부)
        - scope: card                                      # an affiliate, or `group` (default)
          channels: [sms]                                  # default: every channel
          registered_at: 2025-06-01T00:00:00+09:00         # default: 1 day before `now`
          lifted_at: 2025-06-10T00:00:00+09:00             # optional
      contacts: 2                                          # optional: contacts already made on
                                                           #   the channel in its cap's window
      expect:
        released: {annual_income: band}                    # attribute: view
        withheld: {credit_grade: view_not_allowed}         # attribute: reason (`domain.Reason`)
        contact_window: 08:00–21:00 KST                    # optional: marketing releases
        # or, for a request the gateway refuses as a whole:
        # error: unknown-purpose                           # forbidden, unknown-attribute, ...

`released` and `withheld` must account for every requested attribute: a case says what happens
to each, so a new release cannot slip by unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from gateway.domain import (
    AffiliateId,
    AttributeId,
    AttributeRequest,
    Caller,
    Category,
    ConsentId,
    ConsentRecord,
    ContactStop,
    ContactStopId,
    CustomerKey,
    Decision,
    DecisionRequest,
    PurposeId,
    Reason,
    SystemId,
    ViewName,
)
from gateway.errors import Forbidden, GatewayError
from gateway.marketing.windows import narrowest
from gateway.policy.checks.codes import CASE_UNREADABLE, NO_CASES
from gateway.policy.decision import decide
from gateway.policy.model import Policy
from gateway.policy.problems import Problem
from gateway.policy.yamlmarks import Document, read

DEFAULT_NOW = datetime(2025, 6, 15, 9, 30, tzinfo=timezone(timedelta(hours=9)))
TEST_CUSTOMER = CustomerKey("0" * 32)  # a placeholder key: the decision never looks it up
QUERY = "query"

Name = Annotated[StrictStr, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConsentSpec(_Strict):
    id: Name | None = None
    recipient: Name | None = None
    purpose: Name | None = None
    categories: tuple[Category, ...] = Field(min_length=1)
    channel: Name | None = None
    granted_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    withdrawn_at: AwareDatetime | None = None
    confirmed_at: AwareDatetime | None = None
    night_contact: bool = False
    refusal_right_notified: bool = True  # cases describe well-formed consents unless they say


class StopSpec(_Strict):
    scope: Name = "group"
    channels: tuple[Name, ...] | None = Field(None, min_length=1)
    registered_at: AwareDatetime | None = None
    lifted_at: AwareDatetime | None = None


class RequestSpec(_Strict):
    system: Name
    employee: Name = "policy-test"
    purpose: Name
    attributes: tuple[Name | dict[Name, Name | None], ...] = Field(min_length=1)
    held_by: tuple[Name, ...] | None = None

    @model_validator(mode="after")
    def _one_attribute_per_item(self) -> RequestSpec:
        for item in self.attributes:
            if isinstance(item, dict) and len(item) != 1:
                raise ValueError("each attribute is a name or one `name: view` pair")
        return self

    def wanted(self) -> tuple[AttributeRequest, ...]:
        items: list[AttributeRequest] = []
        for item in self.attributes:
            if isinstance(item, str):
                items.append(AttributeRequest(AttributeId(item)))
            else:
                ((name, view),) = item.items()
                items.append(AttributeRequest(AttributeId(name),
                                              ViewName(view) if view is not None else None))
        return tuple(items)

    def wanted_names(self) -> list[str]:
        return [a.attribute for a in self.wanted()]


class ExpectSpec(_Strict):
    released: dict[Name, Name] = Field(default_factory=dict)
    withheld: dict[Name, Reason] = Field(default_factory=dict)
    error: Name | None = None
    contact_window: Name | None = None  # every marketing release carries this window

    @model_validator(mode="after")
    def _error_alone(self) -> ExpectSpec:
        if self.error is not None and (self.released or self.withheld or self.contact_window):
            raise ValueError("`error` excludes `released`, `withheld` and `contact_window`")
        return self


class CaseSpec(_Strict):
    name: Name
    description: StrictStr | None = None
    now: AwareDatetime | None = None
    request: RequestSpec
    consents: tuple[ConsentSpec, ...] = ()
    stops: tuple[StopSpec, ...] = ()
    contacts: StrictInt = Field(0, ge=0)  # contacts made in the channel cap's window so far
    expect: ExpectSpec


class CaseFile(_Strict):
    cases: list[Any] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Case:
    file: str
    line: int
    spec: CaseSpec


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a request, in the shape cases state it (comparable, printable)."""

    released: Mapping[str, str] = field(default_factory=dict)
    withheld: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    # a case that states no window is not compared on it (see `run_case`)
    contact_window: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        out: dict[str, Any] = {"released": dict(self.released), "withheld": dict(self.withheld)}
        if self.contact_window is not None:
            out["contact_window"] = self.contact_window
        return out

    def lines(self) -> dict[str, str]:
        """One comparable line per attribute (or the error), keyed for the diff."""
        if self.error is not None:
            return {"": f"error `{self.error}` (the request is refused as a whole)"}
        out = {a: f"{a}: released `{v}`" for a, v in self.released.items()}
        out |= {a: f"{a}: withheld `{r}`" for a, r in self.withheld.items()}
        if self.contact_window is not None:
            out["contact window"] = f"contact window: `{self.contact_window}`"
        return out


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    expected: Outcome
    actual: Outcome
    decision: Decision | None

    @property
    def passed(self) -> bool:
        return self.expected == self.actual

    def diff(self) -> list[str]:
        """`-` expected, `+` actual, one line per attribute that differs, in request order."""
        want, got = self.expected.lines(), self.actual.lines()
        if (self.expected.error is None) != (self.actual.error is None):
            # A refused request against a decision: nothing lines up, show both whole.
            return [f"- {line}" for line in want.values()] + [f"+ {line}" for line in got.values()]
        keys = [*self.case.spec.request.wanted_names(), *want, *got]
        out: list[str] = []
        for key in dict.fromkeys(keys):
            a, b = want.get(key), got.get(key)
            if a == b:
                continue
            out.append(f"- {a}" if a is not None else f"- {key}: (not expected)")
            out.append(f"+ {b}" if b is not None else f"+ {key}: (not in the decision)")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.case.spec.name, "file": self.case.file, "line": self.case.line,
                "passed": self.passed, "expected": self.expected.as_dict(),
                "actual": self.actual.as_dict(), "diff": self.diff(),
                "rules": list(self.decision.rule_ids) if self.decision else [],
                "consents": list(self.decision.consent_ids) if self.decision else []}


@dataclass(frozen=True, slots=True)
class SuiteResult:
    results: tuple[CaseResult, ...]
    problems: tuple[Problem, ...]  # case files that could not be read: the suite fails

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failed and bool(self.results)


# --- reading the case files -------------------------------------------------------------------
def load_cases(tests_dir: Path) -> tuple[list[Case], list[Problem]]:
    """Every case of every `*.yaml` under `tests_dir`, in file-name then file order."""
    cases: list[Case] = []
    problems: list[Problem] = []
    files = sorted(tests_dir.glob("*.yaml")) if tests_dir.is_dir() else []
    if not files:
        problems.append(NO_CASES.at(str(tests_dir), 1, 1))
    for path in files:
        cases += _read_file(path, problems)
    return cases, problems


def _problem(file: str, doc: Document | None, where: tuple[str | int, ...], message: str) -> Problem:
    line, column = doc.position(where) if doc is not None else (1, 1)
    return CASE_UNREADABLE.at(file, line, column, detail=message)


def _read_file(path: Path, problems: list[Problem]) -> list[Case]:
    file = str(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        problems.append(_problem(file, None, (), "case file is unreadable or not utf-8 text"))
        return []
    doc = read(text, lambda where, msg: problems.append(
        CASE_UNREADABLE.at(file, where[0], where[1], detail=msg)))
    if doc is None:
        return []
    try:
        top = CaseFile.model_validate(doc.data)
    except ValidationError as exc:
        problems += [_problem(file, doc, tuple(e["loc"]), _message(e)) for e in exc.errors()]
        return []
    cases = []
    for i, entry in enumerate(top.cases):
        try:
            spec = CaseSpec.model_validate(entry)
        except ValidationError as exc:
            problems += [_problem(file, doc, ("cases", i, *e["loc"]), _message(e))
                         for e in exc.errors()]
            continue
        cases.append(Case(file, doc.position(("cases", i))[0], spec))
    return cases


def _message(error: Any) -> str:
    names = [str(part) for part in error["loc"] if isinstance(part, str)]
    where = f"`{names[-1]}`: " if names else ""
    text = str(error["msg"]).removeprefix("Value error, ").rstrip(".")
    return where + text[:1].lower() + text[1:]


# --- running them ------------------------------------------------------------------------------
def run_case(policy: Policy, case: Case) -> CaseResult:
    """Build the request the API would build and call the same `decide`."""
    spec = case.spec
    expected = Outcome(spec.expect.released, {a: r.value for a, r in spec.expect.withheld.items()},
                       spec.expect.error, spec.expect.contact_window)
    now = spec.now or DEFAULT_NOW
    system = policy.systems.get(SystemId(spec.request.system))
    try:
        # As `pipeline.require_permission`: a system without `query` never reaches the decision.
        if system is None or QUERY not in system.permissions:
            raise Forbidden(f"system `{spec.request.system}` lacks the `{QUERY}` permission")
        caller = Caller(system.affiliate, system.id, spec.request.employee, f"test-{case.line}")
        held_by = spec.request.held_by
        known = (held_by is None or caller.affiliate in held_by
                 or policy.affiliates[caller.affiliate].sees_group_customers)
        request = DecisionRequest(caller=caller, purpose=PurposeId(spec.request.purpose),
                                  attributes=spec.request.wanted(), customer_known=known, now=now)
        decision = decide(policy, request, _consents(spec, caller, now),
                          stops=_stops(spec, now), contacts=spec.contacts)
    except GatewayError as exc:
        return CaseResult(case, expected, Outcome(error=exc.type_slug), None)
    window = None
    if spec.expect.contact_window is not None:
        window = narrowest([r.contact_window for r in decision.released if r.contact_window])
    actual = Outcome({r.attribute: r.view for r in decision.released},
                     {w.attribute: w.reason.value for w in decision.withheld}, None, window)
    return CaseResult(case, expected, actual, decision)


def _consents(spec: CaseSpec, caller: Caller, now: datetime) -> list[ConsentRecord]:
    return [
        ConsentRecord(
            id=ConsentId(c.id or f"case-consent-{i + 1}"), customer=TEST_CUSTOMER,
            recipient=AffiliateId(c.recipient or caller.affiliate),
            purpose=PurposeId(c.purpose or spec.request.purpose),
            categories=frozenset(c.categories), channel=c.channel,
            granted_at=c.granted_at or now - timedelta(days=30), expires_at=c.expires_at,
            withdrawn_at=c.withdrawn_at, evidence_ref="policy-test",
            night_contact=c.night_contact, confirmed_at=c.confirmed_at,
            refusal_right_notified=c.refusal_right_notified,
        )
        for i, c in enumerate(spec.consents)
    ]


def _stops(spec: CaseSpec, now: datetime) -> list[ContactStop]:
    return [
        ContactStop(
            id=ContactStopId(f"case-stop-{i + 1}"), customer=TEST_CUSTOMER,
            scope=None if s.scope == "group" else AffiliateId(s.scope),
            channels=frozenset(s.channels) if s.channels is not None else None,
            registered_at=s.registered_at or now - timedelta(days=1), lifted_at=s.lifted_at,
        )
        for i, s in enumerate(spec.stops)
    ]


def run_suite(policy: Policy, cases: Sequence[Case], problems: Sequence[Problem] = ()) -> SuiteResult:
    results = tuple(run_case(policy, case) for case in cases)
    return SuiteResult(results, tuple(problems))


def run_tests(policy: Policy, tests_dir: Path) -> SuiteResult:
    cases, problems = load_cases(tests_dir)
    return run_suite(policy, cases, problems)
