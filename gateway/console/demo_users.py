"""The demo's console users, one per role, with known passwords and TOTP secrets.

DEMO ONLY: the passwords and second-factor secrets below are public (they are in this file
and printed when the demo starts). `seed_demo_users` refuses to run outside demo mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from gateway.console.users import ConsoleUsers
from gateway.errors import ConfigError
from gateway.services import Services


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    display_name: str
    role: str
    affiliate: str
    password: str
    totp_secret: str | None


DEMO_USERS = (
    DemoUser("demo.officer", "김지현", "privacy_officer", "holding",
             "demo-officer-2026", "DEMOOFFICERTOTPSECRETAAAAAAAAAAA"),
    DemoUser("demo.auditor", "박서준", "auditor", "holding",
             "demo-auditor-2026", "DEMOAUDITORTOTPSECRETBBBBBBBBBBB"),
    DemoUser("demo.agent", "이하늘", "call_centre_agent", "bank",
             "demo-agent-2026", None),
    DemoUser("demo.inspector", "최민호", "inspector", "holding",
             "demo-inspector-2026", None),
)


def seed_demo_users(services: Services) -> list[DemoUser]:
    """Create the demo users the policy has roles for (those present already are kept)."""
    if not services.settings.demo:
        raise ConfigError("demo console users are created in demo mode only")
    users = ConsoleUsers(services.gateway_engine)
    roles = services.policy.current.console_roles
    seeded = []
    for demo in DEMO_USERS:
        role = roles.get(demo.role)
        if role is None:
            continue
        if users.get(demo.username) is None:
            users.add(username=demo.username, display_name=demo.display_name, role=role,
                      affiliate=demo.affiliate, password=demo.password,
                      now=datetime.now(timezone.utc),
                      totp_secret=demo.totp_secret if role.second_factor else None)
        seeded.append(demo)
    return seeded


def instructions(base: str, seeded: list[DemoUser]) -> str:
    lines = [f"Console (browser): {base}/console/  — Korean first; add ?lang=en for English.",
             "Demo users (DEMO ONLY: public passwords; cookies without `Secure` over http):"]
    for demo in seeded:
        line = f"  {demo.role:<18} {demo.username:<15} password {demo.password}"
        if demo.totp_secret:
            line += f"  + code: .venv/bin/python -c \"import pyotp; " \
                    f"print(pyotp.TOTP('{demo.totp_secret}').now())\""
        lines.append(line)
    return "\n".join(lines)
