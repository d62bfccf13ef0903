"""FF1 (NIST SP 800-38G §6.1, Algorithms 7 and 8; SP 800-38G Rev. 1 domain limits) on AES.

A ten-round Feistel network whose round function is a CBC-MAC of AES over the round number,
the tweak and one half of the input (`PRF`, Algorithm 6). Checked against NIST's FF1 samples
(`tests/pseudonymizer/test_pseudonymizer_fpe.py`). FF1 is the FPE mode NIST still approves.
"""

from __future__ import annotations

from pseudonymizer.fpe.numerals import (
    MIN_DOMAIN,
    Alphabet,
    BlockCipher,
    FpeError,
    num,
    str_radix,
)

__all__ = ["FF1"]

ROUNDS = 10
MAX_RADIX = 1 << 16  # SP 800-38G §5.2: radix in [2, 2^16]
MAX_TWEAK_BYTES = 256  # maxTlen: our choice (the standard lets the implementation pick it)
MAX_LENGTH = 1 << 16  # maxlen (≤ 2^32); pseudonyms are short, a bound keeps inputs sane


class FF1:
    """FF1 under one AES key for one radix; `encrypt`/`decrypt` take strings of its alphabet."""

    def __init__(self, key: bytes, radix: int = 10, alphabet: str | None = None) -> None:
        if not 2 <= radix <= MAX_RADIX:
            raise FpeError(f"ff1 radix must be in [2, 65536], got {radix}")
        self.radix = radix
        self.alphabet = Alphabet(radix, alphabet)
        self._ciph = BlockCipher(key)
        # minlen: the smallest length whose domain radix^minlen reaches one million.
        self.min_length = max(2, next(n for n in range(1, 64) if radix**n >= MIN_DOMAIN))
        self._first_block: dict[bytes, bytes] = {}  # P → CIPH(P): P depends on n and t only

    def encrypt(self, text: str, tweak: bytes = b"") -> str:
        return self.alphabet.text(self.encrypt_numerals(self.alphabet.numerals(text), tweak))

    def decrypt(self, text: str, tweak: bytes = b"") -> str:
        return self.alphabet.text(self.decrypt_numerals(self.alphabet.numerals(text), tweak))

    def encrypt_numerals(self, x: list[int], tweak: bytes = b"") -> list[int]:
        u, v, b, d, p = self._setup(len(x), tweak)
        radix = self.radix
        a, bb = num(x[:u], radix), num(x[u:], radix)
        for i in range(ROUNDS):
            m = u if i % 2 == 0 else v
            y = self._round(p, tweak, i, bb, b, d)
            a, bb = bb, (a + y) % radix**m
        return str_radix(a, radix, u) + str_radix(bb, radix, v)

    def decrypt_numerals(self, x: list[int], tweak: bytes = b"") -> list[int]:
        u, v, b, d, p = self._setup(len(x), tweak)
        radix = self.radix
        a, bb = num(x[:u], radix), num(x[u:], radix)
        for i in range(ROUNDS - 1, -1, -1):
            m = u if i % 2 == 0 else v
            y = self._round(p, tweak, i, a, b, d)
            a, bb = (bb - y) % radix**m, a
        return str_radix(a, radix, u) + str_radix(bb, radix, v)

    def _setup(self, n: int, tweak: bytes) -> tuple[int, int, int, int, bytes]:
        if not self.min_length <= n <= MAX_LENGTH:
            raise FpeError(f"ff1 input length must be in [{self.min_length}, {MAX_LENGTH}] "
                           f"for radix {self.radix}, got {n}")
        if len(tweak) > MAX_TWEAK_BYTES:
            raise FpeError(f"ff1 tweak must be at most {MAX_TWEAK_BYTES} bytes")
        u = n // 2
        v = n - u
        # b = ceil(ceil(v·log2(radix)) / 8), computed exactly: ceil(log2(r^v)) = bits of r^v − 1.
        b = ((self.radix**v - 1).bit_length() + 7) // 8
        d = 4 * ((b + 3) // 4) + 4
        p = (bytes([1, 2, 1]) + self.radix.to_bytes(3, "big") + bytes([10, u % 256])
             + n.to_bytes(4, "big") + len(tweak).to_bytes(4, "big"))
        return u, v, b, d, p

    def _round(self, p: bytes, tweak: bytes, i: int, half: int, b: int, d: int) -> int:
        """y = NUM(S) of Algorithm 7 steps 6.i-6.iv for round `i` over the numeral value `half`."""
        q = tweak + bytes((-len(tweak) - b - 1) % 16) + bytes([i]) + half.to_bytes(b, "big")
        r = self._prf(p, q)
        s = r
        j = 1
        while len(s) < d:  # S = R || CIPH(R ⊕ [1]^16) || CIPH(R ⊕ [2]^16) ...
            s += self._ciph.encrypt(_xor(r, j.to_bytes(16, "big")))
            j += 1
        return int.from_bytes(s[:d], "big")

    def _prf(self, p: bytes, q: bytes) -> bytes:
        """PRF(P || Q) (Algorithm 6): CBC-MAC with a zero IV, the last block.

        The first block, CIPH(P), is the same for every round and input of one length and
        tweak length, so it is computed once and kept.
        """
        y = self._first_block.get(p)
        if y is None:
            y = self._ciph.encrypt(p)
            if len(self._first_block) < 64:
                self._first_block[p] = y
        for k in range(0, len(q), 16):
            y = self._ciph.encrypt(_xor(y, q[k:k + 16]))
        return y


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")
