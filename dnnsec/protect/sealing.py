"""Password sealing of secrets: scrypt (Percival 2009, RFC 7914) then AES-256-GCM, with bounded parameters.

New seals use n = 2**17, r = 8, p = 1 (128 MiB of memory, about 0.5 s on one core of the development machine),
the current OWASP guidance for scrypt. A seal read from a file is opened only if its parameters lie in a fixed
range, checked before any derivation, so that a crafted file cannot exhaust memory or time:

* n a power of two in [2**14, 2**20] (older files written with n = 2**15 still open),
* r in [1, 16] and p in [1, 4],
* memory 128 n r <= 1 GiB and work n r p <= 2**23 (about 3 s here),
* salt 16 to 64 bytes, nonce exactly 12 bytes, ciphertext at most 16 MiB (each base64 text bounded before it is
  decoded).

A seal is the JSON object ``{"kdf": {"name": "scrypt", "n", "r", "p", "salt"}, "cipher": "AES-256-GCM", "nonce",
"ciphertext"}`` (base64 text); the caller's associated data binds it to its context.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dnnsec.errors import DnnsecError

#: scrypt parameters of new seals.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
#: Accepted ranges (inclusive) when opening a seal.
N_RANGE, R_RANGE, P_RANGE = (2**14, 2**20), (1, 16), (1, 4)
MAX_MEMORY_BYTES = 2**30
MAX_WORK = 2**23
SALT_RANGE = (16, 64)
NONCE_BYTES = 12
MAX_CIPHERTEXT_BYTES = 16 * 2**20
CIPHER = "AES-256-GCM"


class SealError(DnnsecError):
    """A sealed secret has out-of-range or malformed parameters, or the password is wrong, or it was altered."""


def derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    """The 32-byte AES key derived from ``password`` by scrypt (parameters already checked)."""
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def _b64(value: Any, field: str, low: int, high: int, source: str) -> bytes:
    """Decode base64 text ``value`` whose decoded length must lie in [low, high] bytes (checked before decoding)."""
    if not isinstance(value, str):
        raise SealError(f"{source}: field {field!r} must be base64 text, not {type(value).__name__}")
    if not 4 * (low // 3) <= len(value) <= 4 * (high // 3 + 1):
        raise SealError(f"{source}: field {field!r} has {len(value)} characters; {low} to {high} bytes expected")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealError(f"{source}: field {field!r} is not valid base64 ({exc})") from exc
    if not low <= len(raw) <= high:
        raise SealError(f"{source}: field {field!r} holds {len(raw)} bytes; {low} to {high} expected")
    return raw


def _int(kdf: dict, name: str, bounds: tuple[int, int], source: str) -> int:
    value = kdf.get(name)
    if type(value) is not int:
        raise SealError(f"{source}: field 'kdf.{name}' must be an integer, not {type(value).__name__}")
    if not bounds[0] <= value <= bounds[1]:
        raise SealError(f"{source}: field 'kdf.{name}' = {value} is outside [{bounds[0]}, {bounds[1]}]")
    return value


def check_kdf(kdf: Any, source: str) -> tuple[int, int, int, bytes]:
    """Validate the ``kdf`` object of a seal and return (n, r, p, salt); nothing is derived."""
    if not isinstance(kdf, dict):
        raise SealError(f"{source}: field 'kdf' must be an object")
    extra = sorted(set(kdf) - {"name", "n", "r", "p", "salt"})
    if extra:
        raise SealError(f"{source}: field 'kdf' has unknown entries {extra}")
    if kdf.get("name") != "scrypt":
        raise SealError(f"{source}: field 'kdf.name' must be 'scrypt', not {kdf.get('name')!r:.40}")
    n = _int(kdf, "n", N_RANGE, source)
    if n & (n - 1):
        raise SealError(f"{source}: field 'kdf.n' = {n} is not a power of two")
    r, p = _int(kdf, "r", R_RANGE, source), _int(kdf, "p", P_RANGE, source)
    if 128 * n * r > MAX_MEMORY_BYTES:
        raise SealError(f"{source}: fields 'kdf.n' and 'kdf.r' need {128 * n * r >> 20} MiB; at most "
                        f"{MAX_MEMORY_BYTES >> 20} MiB allowed")
    if n * r * p > MAX_WORK:
        raise SealError(f"{source}: fields 'kdf.n', 'kdf.r', 'kdf.p' ask for n r p = {n * r * p}; at most "
                        f"{MAX_WORK} allowed")
    return n, r, p, _b64(kdf.get("salt"), "kdf.salt", *SALT_RANGE, source)


def seal(plaintext: bytes, password: str, associated_data: bytes, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
         p: int = SCRYPT_P) -> dict:
    """Encrypt ``plaintext`` under ``password``; return the seal object (see the module docstring)."""
    if not password:
        raise SealError("an empty password protects nothing; omit it or give a real one")
    check_kdf({"name": "scrypt", "n": n, "r": r, "p": p, "salt": base64.b64encode(bytes(16)).decode()}, "seal")
    salt, nonce = os.urandom(16), os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(derive(password, salt, n, r, p)).encrypt(nonce, plaintext, associated_data)
    return {"kdf": {"name": "scrypt", "n": n, "r": r, "p": p, "salt": base64.b64encode(salt).decode()},
            "cipher": CIPHER, "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(ciphertext).decode()}


def open_seal(doc: dict, password: str, associated_data: bytes, source: str) -> bytes:
    """Check every field of the seal in ``doc``, then derive and decrypt; SealError names ``source`` and the field."""
    n, r, p, salt = check_kdf(doc.get("kdf"), source)
    if doc.get("cipher") != CIPHER:
        raise SealError(f"{source}: field 'cipher' must be {CIPHER!r}, not {doc.get('cipher')!r:.40}")
    nonce = _b64(doc.get("nonce"), "nonce", NONCE_BYTES, NONCE_BYTES, source)
    ciphertext = _b64(doc.get("ciphertext"), "ciphertext", 16, MAX_CIPHERTEXT_BYTES, source)
    try:
        return AESGCM(derive(password, salt, n, r, p)).decrypt(nonce, ciphertext, associated_data)
    except InvalidTag:
        raise SealError(f"{source}: wrong password, or the file was altered") from None
    except MemoryError:
        raise SealError(f"{source}: not enough memory for scrypt n={n}, r={r}") from None
