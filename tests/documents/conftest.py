"""The shipped policy with fresh public keys (the documents name things as it does)."""

from tests.policy.conftest import public_keys_dir, shipped_policy  # noqa: F401
