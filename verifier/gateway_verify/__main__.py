"""`python -m gateway_verify`: the regulator's verifier."""

from __future__ import annotations

from gateway_verify.cli import main

raise SystemExit(main())
