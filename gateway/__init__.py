"""Affiliate data gateway: purpose- and consent-checked, minimized, logged attribute sharing."""

__version__ = "0.1.0"
