"""Tables of the synthetic affiliates' customer databases (docs/DATA-MODEL.md).

Each affiliate has its own database and its own `MetaData`; every table is keyed by the
group-internal `customer_key`. `list`/`records` attributes are JSON text columns. The only
national-id column, `bank_customers.rrn_masked`, holds the number already masked
(`900101-1******`): the raw number lives only encrypted in the gateway's registry.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Engine

from gateway.errors import ConfigError


def _key() -> Column[str]:
    return Column("customer_key", CHAR(32), primary_key=True)


bank_metadata = MetaData()
bank_customers = Table(
    "bank_customers", bank_metadata,
    _key(),
    Column("name", Text, nullable=False),
    Column("rrn_masked", String(14), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("address", Text),
    Column("mobile_phone", String(13)),
    Column("email", Text),
    Column("employer", Text),
    Column("job_title", Text),
    Column("annual_income", BigInteger),
    Column("deposit_balance", BigInteger),
    Column("loan_balance", BigInteger),
    Column("credit_grade", Integer, CheckConstraint("credit_grade BETWEEN 1 AND 10")),
    Column("callcenter_memo", Text),
)

card_metadata = MetaData()
card_members = Table(
    "card_members", card_metadata,
    _key(),
    Column("card_products", Text),  # JSON array of product names
    Column("monthly_card_spend", BigInteger),
    Column("spending_by_category", Text),  # JSON array of {"category", "amount"}
    Column("interests", Text),  # JSON array of strings
)

securities_metadata = MetaData()
securities_accounts = Table(
    "securities_accounts", securities_metadata,
    _key(),
    Column("stock_holdings_value", BigInteger),
    Column("investment_risk_profile", Text),
)

insurance_metadata = MetaData()
insurance_customers = Table(
    "insurance_customers", insurance_metadata,
    _key(),
    Column("insurance_policies", Text),  # JSON array of policy names
    Column("insured_car_model", Text),  # NULL: no insured car
    Column("apartment_size_m2", Integer),
    Column("health_risk_class", Text),
)

AFFILIATE_METADATA: dict[str, MetaData] = {
    "bank": bank_metadata,
    "card": card_metadata,
    "securities": securities_metadata,
    "insurance": insurance_metadata,
}
CUSTOMER_TABLES: dict[str, Table] = {
    "bank": bank_customers,
    "card": card_members,
    "securities": securities_accounts,
    "insurance": insurance_customers,
}
"""Affiliate id → the table whose rows are that affiliate's customers."""


def create_affiliate_schema(engine: Engine, affiliate: str) -> None:
    """Create `affiliate`'s synthetic tables in `engine` (those that do not exist yet)."""
    metadata = AFFILIATE_METADATA.get(affiliate)
    if metadata is None:
        raise ConfigError(f"affiliate `{affiliate}` has no synthetic customer database")
    metadata.create_all(engine)
