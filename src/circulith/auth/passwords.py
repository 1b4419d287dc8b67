"""Password hashing with Argon2id (argon2-cffi defaults, RFC 9106 "second recommended" profile)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 10
"""Shortest password accepted for a new user [characters] (assumption: NIST SP 800-63B asks for >= 8)."""


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    """Argon2id hash (PHC string, salt included) of ``password``."""
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; False for any malformed hash."""
    try:
        return _hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A hash to verify against when the user does not exist, so that a login for an unknown
# e-mail costs as much time as one for a known e-mail (no user enumeration by timing).
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """A fixed Argon2 hash of a random string (for constant-time failed logins)."""
    return hash_password("circulith-no-such-user-0f3a")
