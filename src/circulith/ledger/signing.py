"""Ed25519 signatures as JSON Web Signatures (RFC 7515 compact serialisation, ``alg`` ``EdDSA``, RFC 8037).

Pure computation with the ``cryptography`` package: no key store, no database. A signed object is the
compact JWS ``BASE64URL(header) . BASE64URL(payload) . BASE64URL(signature)`` whose protected header
names the signing key (``kid``) and the content type (``typ``); the payload is canonical JSON
(:func:`circulith.ledger.hashing.canonical_json`). Public keys are published as JSON Web Keys
(RFC 8037: ``{"kty": "OKP", "crv": "Ed25519", "x": ...}``), so any JOSE library can check a signature
offline.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from circulith.errors import IntegrityViolation
from circulith.ledger.hashing import canonical_json

ALGORITHM = "EdDSA"


class SignatureInvalid(IntegrityViolation):
    """A signature that does not verify, names an unknown key, or is malformed."""


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url`; refuses characters outside the base64url alphabet."""
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise SignatureInvalid("malformed base64url segment")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_private_key() -> Ed25519PrivateKey:
    """A new Ed25519 signing key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS #8 PEM of a private key (unencrypted: protect the file)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key_pem(data: bytes) -> Ed25519PrivateKey:
    """The Ed25519 key in PKCS #8 PEM ``data``."""
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureInvalid("the signing key is not an Ed25519 key")
    return key


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32-byte public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_jwk(raw: bytes, kid: str) -> dict[str, str]:
    """The JSON Web Key (RFC 8037) of a raw Ed25519 public key."""
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), "kid": kid, "alg": ALGORITHM, "use": "sig"}


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    """The Ed25519 public key of a JWK; refuses any other key type."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise SignatureInvalid("only Ed25519 keys (kty OKP, crv Ed25519) are accepted")
    raw = b64url_decode(jwk["x"])
    if len(raw) != 32:
        raise SignatureInvalid("an Ed25519 public key has 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_compact(payload: Mapping[str, Any], key: Ed25519PrivateKey, *, kid: str, typ: str) -> str:
    """The compact JWS of ``payload`` (canonical JSON) signed by ``key``, naming ``kid`` and ``typ``."""
    header = b64url(canonical_json({"alg": ALGORITHM, "kid": kid, "typ": typ}).encode())
    body = b64url(canonical_json(dict(payload)).encode())
    signing_input = f"{header}.{body}".encode("ascii")
    return f"{header}.{body}.{b64url(key.sign(signing_input))}"


def jws_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS (unverified: to find the key)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise SignatureInvalid("a compact JWS has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignatureInvalid("the JWS header is not JSON") from exc
    if not isinstance(header, dict):
        raise SignatureInvalid("the JWS header is not a JSON object")
    return header


def verify_compact(token: str, keys: Mapping[str, Ed25519PublicKey], *, typ: str) -> dict[str, Any]:
    """Check a compact JWS against the keys by ``kid`` and return its payload.

    Raises
    ------
    SignatureInvalid
        If the token is malformed, of another type or algorithm, names a key not in ``keys``, or its
        signature does not verify.
    """
    header = jws_header(token)
    if header.get("alg") != ALGORITHM:
        raise SignatureInvalid(f"unsupported JWS algorithm {header.get('alg')!r} (expected {ALGORITHM})")
    if header.get("typ") != typ:
        raise SignatureInvalid(f"a {typ} was expected, this is {header.get('typ')!r}")
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise SignatureInvalid(f"signed with key {kid!r}, which is not among the published keys")
    head, body, sig = token.split(".")
    try:
        key.verify(b64url_decode(sig), f"{head}.{body}".encode("ascii"))
    except InvalidSignature as exc:
        raise SignatureInvalid(f"the signature by key {kid} does not verify: the content was changed") from exc
    try:
        payload = json.loads(b64url_decode(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignatureInvalid("the JWS payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise SignatureInvalid("the JWS payload is not a JSON object")
    return payload
