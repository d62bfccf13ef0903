"""Format-preserving encryption (NIST SP 800-38G): FF1 and FF3-1 over `cryptography`'s AES."""

from __future__ import annotations

from pseudonymizer.fpe.ff1 import FF1
from pseudonymizer.fpe.ff3_1 import FF3_1
from pseudonymizer.fpe.numerals import FpeError

__all__ = ["FF1", "FF3_1", "FpeError"]
