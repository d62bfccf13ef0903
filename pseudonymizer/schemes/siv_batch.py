"""AES-SIV (RFC 5297) encryption of many 16-byte customer keys at once, for one recipient.

For one associated data string (the recipient) and 16-byte plaintexts, RFC 5297's S2V and CTR
reduce to two AES blocks per plaintext P:
- S2V (§2.4): D = dbl(CMAC(K1, <zero>)) ⊕ CMAC(K1, AD) is the same for every P; since P is
  exactly one block, T = P ⊕ D ("xorend"), and CMAC(K1, T) over one complete block is
  AES(K1, T ⊕ k1) with k1 the CMAC subkey (RFC 4493 §2.3-2.4). So V = AES(K1, P ⊕ M), M = D ⊕ k1.
- CTR (§2.6): Q = V with bits 63 and 31 cleared; C = P ⊕ AES(K2, Q) (one block).
The output is V || C, byte for byte what `cryptography`'s `AESSIV.encrypt(P, [AD])` returns
(`test_pseudonymizer_pseudonyms.py` checks it), but computed with one AES-ECB call per step for
the whole batch. Decryption, which must verify V, stays with `AESSIV`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

__all__ = ["SivBatch"]

_RB = 0x87  # RFC 4493 §2.3: the constant of the doubling in GF(2^128)
_MASK = (1 << 128) - 1


def _dbl(block: int) -> int:
    shifted = (block << 1) & _MASK
    return shifted ^ _RB if block >> 127 else shifted


def _ecb(key: bytes, data: bytes) -> bytes:
    # A fresh encryptor per call: cheap next to a batch, and safe across threads.
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def _cmac(key: bytes, message: bytes) -> int:
    mac = CMAC(algorithms.AES(key))
    mac.update(message)
    return int.from_bytes(mac.finalize(), "big")


class SivBatch:
    """AES-SIV under a 64-byte key (K1 ‖ K2) with one fixed associated-data string."""

    def __init__(self, key: bytes, associated_data: bytes) -> None:
        if len(key) != 64:
            raise ValueError("siv batch takes a 64-byte aes-256-siv key")
        self._k1, self._k2 = key[:32], key[32:]
        subkey = _dbl(int.from_bytes(_ecb(self._k1, bytes(16)), "big"))  # RFC 4493 K1
        d = _dbl(_cmac(self._k1, bytes(16))) ^ _cmac(self._k1, associated_data)
        self._mask = np.frombuffer((d ^ subkey).to_bytes(16, "big"), dtype=np.uint8)

    def encrypt(self, plaintexts: bytes) -> npt.NDArray[np.uint8]:
        """V ‖ C for each 16-byte plaintext in `plaintexts` (concatenated): an (n, 32) array."""
        p = np.frombuffer(plaintexts, dtype=np.uint8).reshape(-1, 16)
        v = np.frombuffer(_ecb(self._k1, (p ^ self._mask).tobytes()), dtype=np.uint8)
        v = v.reshape(-1, 16)
        q = v.copy()
        q[:, 8] &= 0x7F  # clear bit 63 (counting from the right, RFC 5297 §2.6)
        q[:, 12] &= 0x7F  # clear bit 31
        keystream = np.frombuffer(_ecb(self._k2, q.tobytes()), dtype=np.uint8).reshape(-1, 16)
        out = np.empty((len(p), 32), dtype=np.uint8)
        out[:, :16] = v
        out[:, 16:] = p ^ keystream
        return out
