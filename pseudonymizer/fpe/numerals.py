"""Numeral strings of SP 800-38G §4: alphabets, NUM_radix / STR_radix, the AES block (CIPH)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pseudonymizer.errors import PseudonymizerError

__all__ = ["Alphabet", "BlockCipher", "FpeError", "num", "str_radix"]

DEFAULT_SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"
# SP 800-38G Rev. 1 §5.2 raised the minimum domain from 100 to one million: small domains
# fall to exhaustive and Feistel-specific attacks (Durak-Vaudenay 2017, Hoang et al. 2018).
MIN_DOMAIN = 1_000_000


class FpeError(PseudonymizerError, ValueError):
    """A key, tweak or input that the FF1/FF3-1 parameters do not allow."""


class Alphabet:
    """The symbols of one radix, in numeral order (symbol i is numeral i)."""

    def __init__(self, radix: int, symbols: str | None = None) -> None:
        if symbols is None:
            if not 2 <= radix <= len(DEFAULT_SYMBOLS):
                raise FpeError(f"radix {radix} needs an explicit alphabet")
            symbols = DEFAULT_SYMBOLS[:radix]
        if len(symbols) != radix or len(set(symbols)) != radix:
            raise FpeError(f"alphabet must hold {radix} distinct symbols")
        self.radix = radix
        self.symbols = symbols
        self._index = {s: i for i, s in enumerate(symbols)}

    def numerals(self, text: str) -> list[int]:
        try:
            return [self._index[ch] for ch in text]
        except KeyError:
            # The offending character is not echoed: the input may be personal data.
            raise FpeError(f"input holds a symbol outside the radix-{self.radix} alphabet") from None

    def text(self, numerals: Sequence[int]) -> str:
        return "".join(self.symbols[x] for x in numerals)


def num(numerals: Sequence[int], radix: int) -> int:
    """NUM_radix(X) (SP 800-38G Algorithm 1): most significant numeral first."""
    value = 0
    for x in numerals:
        value = value * radix + x
    return value


def str_radix(value: int, radix: int, length: int) -> list[int]:
    """STR^m_radix(x) (SP 800-38G Algorithm 3): `length` numerals, most significant first."""
    out = [0] * length
    for i in range(length - 1, -1, -1):
        value, out[i] = divmod(value, radix)
    return out


class BlockCipher:
    """CIPH_K of SP 800-38G §4.3: AES in ECB mode, one reusable encryptor, thread-safe.

    ECB is correct here: FF1/FF3-1 use the block cipher as a PRF on distinct, structured
    blocks; the chaining that FF1's PRF needs (CBC-MAC) is done explicitly by the caller.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise FpeError(f"aes key must be 16, 24 or 32 bytes, got {len(key)}")
        self._encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        self._lock = threading.Lock()

    def encrypt(self, blocks: bytes) -> bytes:
        """Each 16-byte block encrypted independently (the length must be a multiple of 16)."""
        with self._lock:
            return self._encryptor.update(blocks)
