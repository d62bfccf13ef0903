"""The `gateway` command-line program: serve, demo, seed, keys, tokens, policy, log, db,
users, customer.

One module per command group; `common.app` is the root, the groups are added here.
"""

from __future__ import annotations

import sys

from gateway.cli import policy_approval as _policy_approval  # noqa: F401  (propose, approve)
from gateway.cli import policy_tools as _policy_tools  # noqa: F401  (explain, diff)
from gateway.cli import notices as _notices  # noqa: F401  (gateway notices)
from gateway.cli import review as _review  # noqa: F401  (review --month, review sign-off)
from gateway.cli import run as _run  # noqa: F401  (registers the top-level commands)
from gateway.cli.campaign import campaign_app, review_app
from gateway.cli.common import app
from gateway.cli.customer import customer_app
from gateway.cli.db import db_app
from gateway.cli.keys import keys_app
from gateway.cli.log import log_app
from gateway.cli.policy import policy_app
from gateway.cli.users import users_app

app.add_typer(keys_app, name="keys")
app.add_typer(policy_app, name="policy")
app.add_typer(log_app, name="log")
app.add_typer(db_app, name="db")
app.add_typer(campaign_app, name="campaign")
app.add_typer(review_app, name="review")
app.add_typer(users_app, name="users")
app.add_typer(customer_app, name="customer")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["app", "main"]
