"""Database access for the gateway's own database (registry, consents, token ids, access log)."""
