"""FF1 over many decimal inputs at once: the same algorithm as `ff1.py`, vectorized with numpy.

For radix 10, an empty tweak and lengths 6-18 (each half at most 9 digits) every FF1 round is
a single AES block per input (b ≤ 4 bytes, so Q is one block and d = 8 ≤ 16, Algorithm 7
steps 6.i-6.iv), and the first PRF block, CIPH(P), is the same for every input. A batch then
costs one AES-ECB call per round for all inputs together instead of two per input, and the
arithmetic runs on uint64 arrays. `test_pseudonymizer_legacy.py` checks it against `FF1`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pseudonymizer.fpe.ff1 import FF1, ROUNDS
from pseudonymizer.fpe.numerals import FpeError

__all__ = ["ff1_decimal_batch"]

U64 = npt.NDArray[np.uint64]


def ff1_decimal_batch(ff1: FF1, values: U64, length: int, *, decrypt: bool = False) -> U64:
    """FF1 (empty tweak) of each value, read as a `length`-digit decimal numeral string."""
    if ff1.radix != 10 or not max(6, ff1.min_length) <= length <= 18:
        raise FpeError("batch ff1 takes radix 10 and lengths 6 to 18")
    u, v = length // 2, length - (length // 2)
    b = ((10**v - 1).bit_length() + 7) // 8  # ≤ 4: NUM(B) fits the block's last bytes
    p = (bytes([1, 2, 1]) + (10).to_bytes(3, "big") + bytes([10, u % 256])
         + length.to_bytes(4, "big") + bytes(4))
    first = np.frombuffer(ff1._ciph.encrypt(p), dtype=np.uint8)  # CBC-MAC block 1: CIPH(P)
    count = len(values)
    values = np.asarray(values, dtype=np.uint64)
    if count and int(values.max()) >= 10**length:
        raise FpeError(f"batch ff1 input exceeds {length} digits")
    a, bb = values // np.uint64(10**v), values % np.uint64(10**v)
    block = np.empty((count, 16), dtype=np.uint8)
    order = range(ROUNDS - 1, -1, -1) if decrypt else range(ROUNDS)
    for i in order:
        modulus = np.uint64(10**u if i % 2 == 0 else 10**v)
        half = a if decrypt else bb
        # Block 2 of the CBC-MAC: CIPH(P) ⊕ Q, Q = 0^(15-b) || [i]^1 || [NUM(half)]^b.
        block[:] = first
        block[:, 15 - b] ^= np.uint8(i)
        block[:, 16 - b:] ^= half.astype(">u4").view(np.uint8).reshape(count, 4)[:, 4 - b:]
        r = np.frombuffer(ff1._ciph.encrypt(block.tobytes()), dtype=">u8").reshape(count, 2)
        y = r[:, 0].astype(np.uint64) % modulus  # NUM(S), S = the first d = 8 bytes of R
        if decrypt:
            a, bb = (bb + modulus - y) % modulus, a
        else:
            a, bb = bb, (a + y) % modulus
    result: U64 = a * np.uint64(10**v) + bb
    return result
