"""The HTTP API (FastAPI): `/v1`, JSON, RFC 9457 problem details."""
