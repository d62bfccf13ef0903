"""A customer's inclusion proof in a campaign's commitment (docs/CAMPAIGN-COMMITMENT.md): right
for every position of trees of awkward sizes, leaves beyond the sent count excluded, and read by
streaming the leaves (no list of them all in memory)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, insert

from gateway.accesslog.merkle import CompactRange, leaf_hash, verify_inclusion
from gateway.db.models import Campaign, CampaignLeaf, create_gateway_schema
from gateway.marketing import campaigns
from gateway.marketing.campaigns import CampaignStore

NOW = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


def customer(n: int) -> str:
    return f"{n:032x}"


def leaf(n: int) -> bytes:
    return f'{{"customer_key":"{customer(n)}","n":{n}}}'.encode()


def campaign(engine: Engine, campaign_id: str, *, stored: int, sent: int) -> bytes:
    """A closed campaign with `stored` leaves of which the first `sent` reached the client;
    returns the root over those."""
    tree = CompactRange()
    for n in range(sent):
        tree.append(leaf_hash(leaf(n)))
    root = tree.root()
    with engine.begin() as conn:
        conn.execute(insert(Campaign.__table__).values(  # type: ignore[arg-type]
            id=campaign_id, recipient="card", system="card-marketing", employee="e1",
            purpose="marketing_sms", channel="sms", reason="test", ticket="T-1", segment="[]",
            policy_version="v", status="complete", created_at=NOW, use_by=NOW, candidates=stored,
            released=stored, sent=sent, withheld="{}", open_index=0, close_index=1, root=root))
        conn.execute(insert(CampaignLeaf.__table__), [  # type: ignore[arg-type]
            {"campaign_id": campaign_id, "position": n, "customer_key": customer(n),
             "leaf": leaf(n)} for n in range(stored)])
    return root


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    made = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    create_gateway_schema(made)
    return made


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 13, 64, 100])
def test_every_position_proves_into_the_root(engine: Engine, size: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "LEAF_READ_BATCH", 3)  # several fetches from the cursor
    root = campaign(engine, f"cmp_{size}", stored=size, sent=size)
    store = CampaignStore(engine)
    for n in range(size):
        proof = store.inclusion(f"cmp_{size}", customer(n))
        assert proof is not None
        assert (proof["index"], proof["tree_size"], proof["root"]) == (n, size, root.hex())
        assert proof["leaf"] == leaf(n).decode()
        assert verify_inclusion(leaf_hash(leaf(n)), n, size, [bytes.fromhex(p)
                                                              for p in proof["proof"]], root)


def test_leaves_not_sent_are_neither_proved_nor_counted(engine: Engine) -> None:
    """A client gone mid-stream: leaves were stored for 20 but 11 were sent and committed."""
    root = campaign(engine, "cmp_cut", stored=20, sent=11)
    store = CampaignStore(engine)
    assert store.inclusion("cmp_cut", customer(15)) is None
    proof = store.inclusion("cmp_cut", customer(10))
    assert proof is not None and proof["tree_size"] == 11
    assert verify_inclusion(leaf_hash(leaf(10)), 10, 11,
                            [bytes.fromhex(p) for p in proof["proof"]], root)
    assert store.inclusion("cmp_other", customer(1)) is None
    assert store.inclusion("cmp_cut", "f" * 32) is None
