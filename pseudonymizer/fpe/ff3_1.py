"""FF3-1 (NIST SP 800-38G Rev. 1 draft, Algorithms 9 and 10) on AES: FF3 with a 56-bit tweak.

An eight-round Feistel network whose round function is one AES call on the tweak half, the
round number and one half of the input, with byte and numeral orders reversed as FF3 does.
FF3-1 differs from the original FF3 only in the tweak: 56 bits split into two 32-bit halves
with four zero bits each (Rev. 1 §6.3), which closes the Durak-Vaudenay attack on FF3.

Status: NIST's second public draft of SP 800-38G Rev. 1 (February 2025) withdraws FF3-1
after further cryptanalysis (Beyne, CRYPTO 2021). It is here for interoperability with
systems that already use it; the gateway's own legacy pseudonyms use FF1.

Test vectors: NIST published samples only for the original 64-bit-tweak FF3; they check the
shared core (`FF3_1.ff3_64`, for tests only). The 56-bit form is checked against the
ACVP-AES-FF3-1 vectors that Bouncy Castle's `SP80038GTest` carries (see the test module).
"""

from __future__ import annotations

import math

from pseudonymizer.fpe.numerals import (
    MIN_DOMAIN,
    Alphabet,
    BlockCipher,
    FpeError,
    num,
    str_radix,
)

__all__ = ["FF3_1"]

ROUNDS = 8
TWEAK_BYTES = 7  # 56 bits
MAX_RADIX = 1 << 16


class FF3_1:
    """FF3-1 under one AES key for one radix; `encrypt`/`decrypt` take strings of its alphabet."""

    def __init__(self, key: bytes, radix: int = 10, alphabet: str | None = None) -> None:
        if not 2 <= radix <= MAX_RADIX:
            raise FpeError(f"ff3-1 radix must be in [2, 65536], got {radix}")
        self.radix = radix
        self.alphabet = Alphabet(radix, alphabet)
        # CIPH_REVB(K): FF3 encrypts under the byte-reversed key (Algorithm 9 step 4.iii).
        self._ciph = BlockCipher(key[::-1])
        self.min_length = max(2, next(n for n in range(1, 64) if radix**n >= MIN_DOMAIN))
        # maxlen = 2·floor(log_radix(2^96)), so each half fits the 12-byte block field.
        self.max_length = 2 * math.floor(96 / math.log2(radix) + 1e-9)
        while radix ** (self.max_length // 2) > 1 << 96:  # guard the float floor
            self.max_length -= 2

    def encrypt(self, text: str, tweak: bytes) -> str:
        tl, tr = _split_tweak(tweak)
        return self.alphabet.text(self._encrypt(self.alphabet.numerals(text), tl, tr))

    def decrypt(self, text: str, tweak: bytes) -> str:
        tl, tr = _split_tweak(tweak)
        return self.alphabet.text(self._decrypt(self.alphabet.numerals(text), tl, tr))

    def ff3_64(self, text: str, tweak: bytes, *, decrypt: bool = False) -> str:
        """The original FF3 with a 64-bit tweak (SP 800-38G 2016): for NIST's samples only."""
        if len(tweak) != 8:
            raise FpeError("ff3 tweak must be 8 bytes")
        x = self.alphabet.numerals(text)
        run = self._decrypt if decrypt else self._encrypt
        return self.alphabet.text(run(x, tweak[:4], tweak[4:]))

    def _check(self, n: int) -> tuple[int, int]:
        if not self.min_length <= n <= self.max_length:
            raise FpeError(f"ff3-1 input length must be in [{self.min_length}, "
                           f"{self.max_length}] for radix {self.radix}, got {n}")
        u = (n + 1) // 2  # FF3 puts the longer half first (u = ceil(n/2))
        return u, n - u

    def _y(self, w: bytes, i: int, half: list[int]) -> int:
        """NUM(S) for round `i`: S = REVB(CIPH(REVB(P))), P = (W ⊕ [i]^4) || [NUM(REV(half))]^12."""
        wi = (int.from_bytes(w, "big") ^ i).to_bytes(4, "big")
        p = wi + num(half[::-1], self.radix).to_bytes(12, "big")
        s = self._ciph.encrypt(p[::-1])[::-1]
        return int.from_bytes(s, "big")

    def _encrypt(self, x: list[int], tl: bytes, tr: bytes) -> list[int]:
        u, v = self._check(len(x))
        radix = self.radix
        a, b = x[:u], x[u:]
        for i in range(ROUNDS):
            m, w = (u, tr) if i % 2 == 0 else (v, tl)
            c = (num(a[::-1], radix) + self._y(w, i, b)) % radix**m
            a, b = b, str_radix(c, radix, m)[::-1]
        return a + b

    def _decrypt(self, x: list[int], tl: bytes, tr: bytes) -> list[int]:
        u, v = self._check(len(x))
        radix = self.radix
        a, b = x[:u], x[u:]
        for i in range(ROUNDS - 1, -1, -1):
            m, w = (u, tr) if i % 2 == 0 else (v, tl)
            c = (num(b[::-1], radix) - self._y(w, i, a)) % radix**m
            a, b = str_radix(c, radix, m)[::-1], a
        return a + b


def _split_tweak(tweak: bytes) -> tuple[bytes, bytes]:
    """T_L = T[0..27] || 0^4 and T_R = T[32..55] || T[28..31] || 0^4 (Rev. 1 Algorithm 9 step 3)."""
    if len(tweak) != TWEAK_BYTES:
        raise FpeError(f"ff3-1 tweak must be {TWEAK_BYTES} bytes, got {len(tweak)}")
    tl = tweak[:3] + bytes([tweak[3] & 0xF0])
    tr = tweak[4:7] + bytes([(tweak[3] & 0x0F) << 4])
    return tl, tr
