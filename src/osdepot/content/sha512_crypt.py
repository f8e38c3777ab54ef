"""SHA-512-crypt (``$6$``, Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512"):
the password hash every Linux installer and ESXi accept in their unattended files
(kickstart ``rootpw --iscrypted``, AutoYaST ``<encrypted>``, autoinstall
``identity.password``). Python's ``crypt`` module is deprecated and gone in 3.13."""

from __future__ import annotations

import hashlib
import secrets

_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ROUNDS_DEFAULT = 5000
# the byte order of the final encoding (the specification's step 22)
_ORDER = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26),
    (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
    (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38),
    (18, 39, 60), (40, 61, 19), (62, 20, 41),
)  # fmt: skip


def _b64(b2: int, b1: int, b0: int, n: int) -> str:
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(_ALPHABET[w & 0x3F])
        w >>= 6
    return "".join(out)


def _repeat(digest: bytes, length: int) -> bytes:
    return (digest * (length // 64 + 1))[:length]


def sha512_crypt(password: str, salt: str | None = None, rounds: int | None = None) -> str:
    """``$6$[rounds=N$]salt$hash`` of ``password`` (a random 16-character salt when
    none is given)."""
    if salt is None:
        salt = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    salt = salt[:16]
    pw = password.encode()
    salt_b = salt.encode()
    n = _ROUNDS_DEFAULT if rounds is None else max(1000, min(rounds, 999_999_999))

    b = hashlib.sha512(pw + salt_b + pw).digest()
    a = hashlib.sha512(pw + salt_b + _repeat(b, len(pw)))
    length = len(pw)
    while length:
        a.update(b if length & 1 else pw)
        length >>= 1
    a_digest = a.digest()

    dp = hashlib.sha512(pw * len(pw)).digest()
    p = _repeat(dp, len(pw))
    ds = hashlib.sha512(salt_b * (16 + a_digest[0])).digest()
    s = _repeat(ds, len(salt_b))

    c = a_digest
    for i in range(n):
        h = hashlib.sha512()
        h.update(p if i & 1 else c)
        if i % 3:
            h.update(s)
        if i % 7:
            h.update(p)
        h.update(c if i & 1 else p)
        c = h.digest()

    encoded = "".join(_b64(c[x], c[y], c[z], 4) for x, y, z in _ORDER) + _b64(0, 0, c[63], 2)
    prefix = "$6$" if rounds is None else f"$6$rounds={n}$"
    return f"{prefix}{salt}${encoded}"
