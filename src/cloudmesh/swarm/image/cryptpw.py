"""SHA-512 crypt (`$6$`, as `mkpasswd -m sha-512` and /etc/shadow use) in pure Python.

The standard library's `crypt` module is deprecated and gone in Python 3.13, and the
hash must be made on the machine that burns the card (the password never goes there).
Algorithm: Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512" (2008).
"""

from __future__ import annotations

import hashlib
import secrets

_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ROUNDS_DEFAULT = 5000


def _b64(b2: int, b1: int, b0: int, count: int) -> str:
    word = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(count):
        out.append(_ALPHABET[word & 0x3F])
        word >>= 6
    return "".join(out)


def sha512_crypt(password: str, salt: str | None = None, rounds: int = ROUNDS_DEFAULT) -> str:
    """The `$6$salt$hash` string for `password` (a random 16-character salt by default)."""
    if salt is None:
        salt = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    key = password.encode("utf-8")
    salt_b = salt.encode("ascii")[:16]
    rounds = max(1000, min(rounds, 999_999_999))
    digest_b = hashlib.sha512(key + salt_b + key).digest()
    ctx = hashlib.sha512(key + salt_b)
    length = len(key)
    while length > 64:
        ctx.update(digest_b)
        length -= 64
    ctx.update(digest_b[:length])
    length = len(key)
    while length > 0:
        ctx.update(digest_b if length & 1 else key)
        length >>= 1
    digest_a = ctx.digest()
    dp = hashlib.sha512(key * len(key)).digest()
    p_bytes = (dp * (len(key) // 64 + 1))[:len(key)]
    ds = hashlib.sha512(salt_b * (16 + digest_a[0])).digest()
    s_bytes = (ds * (len(salt_b) // 64 + 1))[:len(salt_b)]
    c = digest_a
    for index in range(rounds):
        h = hashlib.sha512()
        h.update(p_bytes if index & 1 else c)
        if index % 3:
            h.update(s_bytes)
        if index % 7:
            h.update(p_bytes)
        h.update(c if index & 1 else p_bytes)
        c = h.digest()
    encoded = []
    for i in range(21):
        trio = (i, i + 21, i + 42)
        a, b, d = (trio, (trio[1], trio[2], trio[0]), (trio[2], trio[0], trio[1]))[i % 3]
        encoded.append(_b64(c[a], c[b], c[d], 4))
    encoded.append(_b64(0, 0, c[63], 2))
    prefix = "$6$" if rounds == ROUNDS_DEFAULT else f"$6$rounds={rounds}$"
    return f"{prefix}{salt_b.decode()}${''.join(encoded)}"


def wpa_psk(ssid: str, passphrase: str) -> str:
    """The 64-hex WPA pre-shared key (what wpa_passphrase prints), so the card never holds
    the passphrase itself."""
    return hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid.encode(), 4096, 32).hex()
