"""The dashboard's consistency check (static/app/ledger_watch.js, run with Node) agrees with the Python RFC 9162 code.

Proofs come from :func:`circulith.ledger.merkle.consistency_proof`; every honest proof must verify in the
browser's code, and every tampered one (a flipped proof byte, a wrong held root, a proof for other sizes)
must fail there, exactly as :func:`circulith.ledger.merkle.verify_consistency` decides.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from importlib.resources import files

import pytest

from circulith.ledger import merkle

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (apt-get install -y nodejs)")

RUNNER = """
const api = require(process.argv[1]);
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
(async () => {
  const out = [];
  for (const c of cases) { out.push(await api.verifyConsistency(c.first, c.second, c.first_root, c.second_root, c.proof)); }
  process.stdout.write(JSON.stringify(out));
})();
"""


def _flip(hex_digest: str) -> str:
    b = bytearray(bytes.fromhex(hex_digest))
    b[0] ^= 1
    return b.hex()


def _cases() -> list[dict]:
    leaves = [merkle.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(70)]
    cases = []
    for second in (1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 64, 70):
        for first in sorted({0, 1, 2, 3, 4, 6, 8, 15, 16, 33, second // 2, second - 1, second} & set(range(second + 1))):
            proof = [p.hex() for p in merkle.consistency_proof(leaves, first, second)]
            honest = {"first": first, "second": second, "first_root": merkle.root_hash(leaves[:first]).hex(),
                      "second_root": merkle.root_hash(leaves[:second]).hex(), "proof": proof}
            cases.append(honest)
            cases.append(honest | {"first_root": _flip(honest["first_root"])})  # the held head was not this tree's
            if proof:
                cases.append(honest | {"proof": [_flip(proof[0]), *proof[1:]]})
            if 0 < first < second - 1:
                cases.append(honest | {"first": first + 1})
    return cases


def test_the_browser_check_agrees_with_rfc9162_in_python() -> None:
    cases = _cases()
    script = str(files("circulith.web") / "static" / "app" / "ledger_watch.js")
    done = subprocess.run([NODE, "-e", RUNNER, script], input=json.dumps(cases), capture_output=True, text=True,
                          timeout=120, check=True)
    got = json.loads(done.stdout)
    expected = [merkle.verify_consistency(c["first"], c["second"], bytes.fromhex(c["first_root"]),
                                          bytes.fromhex(c["second_root"]), [bytes.fromhex(p) for p in c["proof"]])
                for c in cases]
    assert got == expected
    assert sum(expected) >= 90 and expected.count(False) >= 150  # both outcomes well covered


HEAD_RUNNER = """
const api = require(process.argv[1]);
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
(async () => {
  const out = [];
  for (const [head, jwk] of cases) { out.push(await api.treeHeadProblem(head, jwk)); }
  process.stdout.write(JSON.stringify(out));
})();
"""


def test_the_browser_checks_the_tree_head_signature() -> None:
    """A head signed by the operator's key holds; an edited field, another key or a forged signature does not."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from circulith.ledger.checkpoint import TREE_HEAD_TYP, tree_head_payload
    from circulith.ledger.signing import public_jwk, sign_compact

    def jwk_of(key: Ed25519PrivateKey, kid: str) -> dict:
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return public_jwk(raw, kid)

    operator, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    payload = tree_head_payload(5, "ab" * 32, "cd" * 32, "2026-01-01T00:00:00.000000Z", "test-log")
    head = payload | {"key_id": "op-1", "jws": sign_compact(payload, operator, kid="op-1", typ=TREE_HEAD_TYP)}
    forged = payload | {"key_id": "op-1", "jws": sign_compact(payload, other, kid="op-1", typ=TREE_HEAD_TYP)}
    cases = [
        [head, jwk_of(operator, "op-1")],
        [head | {"root_sha256": "ef" * 32}, jwk_of(operator, "op-1")],  # served root is not the signed one
        [head, jwk_of(other, "op-1")],  # the pinned key is another
        [forged, jwk_of(operator, "op-1")],  # signed by someone else under the operator's key ID
        [head, jwk_of(operator, "op-2")],
    ]
    script = str(files("circulith.web") / "static" / "app" / "ledger_watch.js")
    done = subprocess.run([NODE, "-e", HEAD_RUNNER, script], input=json.dumps(cases), capture_output=True, text=True,
                          timeout=60, check=True)
    got = json.loads(done.stdout)
    assert got[0] is None
    assert got[1] == "its root_sha256 differs from what its signature covers"
    assert got[2] == got[3] == "its signature by key op-1 does not verify"
    assert got[4] == "it names key op-1, not op-2"
