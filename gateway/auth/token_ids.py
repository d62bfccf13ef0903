"""Claiming accepted token ids (RFC 7519 §4.1.7 `jti`): each one is honoured once, ever.

Where `used_tokens` lives in the access log's own database (the default), an id is inserted in
the same group commit as the access record of the request that used it: one commit per batch
of requests, and a record and its token id are durable together. A request that writes no
record of its own claims its id alone in the next group commit. Where the deployment keeps
token ids in a database of their own (`GATEWAY_TOKEN_DATABASE_URL`), the `JtiStore` claims
them before the request goes on.

Either way the uniqueness check is the table's primary key, so several processes agree
without a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from anyio import to_thread

from gateway.accesslog import AccessLog
from gateway.accesslog.log import TokenClaim
from gateway.auth.jti_store import JtiStore
from gateway.domain import Caller

__all__ = ["TokenClaim", "TokenIds", "VerifiedCaller"]


@dataclass(frozen=True, slots=True)
class VerifiedCaller:
    """A caller whose token passed every check but the replay check, which is still owed."""

    caller: Caller
    token_expires: datetime  # the id must be remembered until then

    @property
    def claim(self) -> TokenClaim:
        return TokenClaim(self.caller.token_id, self.caller.system, self.token_expires)


class TokenIds:
    """Claims token ids with the access log's commit, or in a separate jti store."""

    def __init__(self, access_log: AccessLog, *, jti_store: JtiStore | None) -> None:
        self._log = access_log
        self._jti_store = jti_store  # None: ids ride with the log's commits

    @property
    def ride_with_records(self) -> bool:
        """Whether a request's access record carries its token id (one commit for both)."""
        return self._jti_store is None

    async def claim(self, verified: VerifiedCaller) -> None:
        """Claim the id now; `TokenReplayed` if it was used before."""
        if self._jti_store is None:
            await self._log.claim_token_async(verified.claim)
            return
        store, claim = self._jti_store, verified.claim
        await to_thread.run_sync(lambda: store.remember(claim.jti, claim.system,
                                                        claim.expires_at))
