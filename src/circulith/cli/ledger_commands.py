"""Ledger commands: verify (optionally against a checkpoint held elsewhere), signed tree heads, keys, proofs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from circulith.cli.common import acting_principal, call_service, console, emit_json, err_console, shown, state
from circulith.errors import IntegrityViolation

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from sqlalchemy import Engine

    from circulith.auth.policy import Principal
    from circulith.ledger.checkpoint import CheckpointFile

ledger_app = typer.Typer(help="The tamper-evident lifecycle ledger and its signed tree heads.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")]
KeyDirOpt = Annotated[Path | None, typer.Option("--key-dir", help="Directory of private keys (default: "
                                                                  "$CIRCULITH_KEY_DIR or ./circulith-keys).")]


def _engine() -> Engine:
    from circulith.store.database import create_db_engine

    return create_db_engine(state.database_url())


def _signing_principal(engine: Engine) -> Principal:
    """Who signs a tree head or an export: circulith --as ORG (CIRCULITH_AS), else the registry operator.

    Without ``--as`` the operator is the only organisation with the operator role, as its key signs.
    """
    from circulith.services import ledger_trust

    if state.acting_org_id() is None:
        return ledger_trust.operator_principal(ledger_trust.operator_org(engine, None))
    return acting_principal()


@ledger_app.command("verify")
def ledger_verify(
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="A checkpoint file held outside the "
                                                    "registry: prove the ledger extends it.")] = None,
    remote: Annotated[str | None, typer.Option("--remote", help="Base URL of a registry API: warn when the "
                                               "tree head it serves is inconsistent with --checkpoint.")] = None,
    only_after: Annotated[bool, typer.Option("--only-after", help="With --checkpoint: trust what it covers and "
                                             "read only the events after it.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Recompute every event digest, both hash chains and every battery tip; with --checkpoint, prove the
    ledger extends a checkpoint held elsewhere and name the first event that breaks it."""
    from circulith.services import ledger_trust
    from circulith.services.registry import verify, verify_access_log

    engine = _engine()
    if checkpoint is None:
        report = verify(engine)
        log = verify_access_log(engine)  # the access log is evidence too: chained, and checked here
        if json_out:
            emit_json({
                "ok": report.ok, "events_checked": report.events_checked, "batteries_checked": report.batteries_checked,
                "head_global_seq": report.head_global_seq, "head_sha256": report.head_sha256,
                "findings": [f.__dict__ for f in report.findings], "truncated": report.truncated,
                "verifier": report.verifier, "access_log": {"ok": log.ok, "entries_checked": log.entries_checked,
                               "findings": [str(f) for f in log.findings]},
            })
        else:
            for f in report.findings[:50]:
                console.print(f"[red]✗[/] {shown(f)}", highlight=False)
            for lf in log.findings[:50]:
                console.print(f"[red]✗[/] access log: {shown(lf)}", highlight=False)
            if report.ok:
                console.print(f"[green]✓[/] ledger intact: {report.events_checked} events, {report.batteries_checked} "
                              f"batteries, head #{report.head_global_seq} {report.head_sha256} "
                              f"({shown(report.verifier)} verifier)", highlight=False)
            if log.ok:
                console.print(f"[green]✓[/] access log intact: {log.entries_checked} entries")
        if not report.ok:
            raise IntegrityViolation(f"ledger verification failed: {len(report.findings)} finding(s); first: "
                                     f"{report.findings[0]}")
        if not log.ok:
            raise IntegrityViolation(f"access log verification failed: {len(log.findings)} finding(s); first: "
                                     f"{log.findings[0]}")
        return
    held = ledger_trust.parse_checkpoint(checkpoint.read_text(encoding="utf-8"), source=str(checkpoint))
    principal = acting_principal()
    if only_after:
        inc = ledger_trust.verify_since_checkpoint(engine, principal, held)
        if json_out:
            emit_json(inc)
        else:
            for line in inc.findings[:50]:
                console.print(f"[red]✗[/] {shown(line)}", highlight=False)
            mark = "[green]✓[/]" if inc.ok else "[red]✗[/]"
            console.print(f"{mark} {inc.events_checked} events after the checkpoint of {inc.checkpoint_size} verified; "
                          f"tree head now {inc.current_size} events, root {inc.root_sha256} "
                          f"({inc.latest_signed_head})", highlight=False)
        if not inc.ok:
            raise IntegrityViolation("the events after the checkpoint do not verify")
        return
    out = ledger_trust.verify_against_checkpoint(engine, principal, held)
    remote_note = _check_remote(remote, held) if remote else None
    if json_out:
        emit_json({**out.model_dump(mode="json"), "remote": remote_note})
    else:
        for line in out.chain_findings[:50]:
            console.print(f"[red]✗[/] {shown(line)}", highlight=False)
        cmp = out.checkpoint
        if cmp.consistent:
            console.print(f"[green]✓[/] the ledger ({cmp.current_size} events) extends the checkpoint of "
                          f"{cmp.checkpoint_size} events signed by {shown(held.tree_head.key_id)} ({out.key_status})")
        else:
            first = out.first_broken_event or {}
            lo, hi = cmp.broken_range or (0, 0)
            console.print(f"[red]✗[/] the ledger does not extend the checkpoint of {cmp.checkpoint_size} events: "
                          f"{shown(cmp.reason)}; first event that breaks it: global #{first.get('global_seq')} "
                          f"{shown(first.get('event_id') or '(missing)')} (events #{lo + 1}..#{hi})", highlight=False)
        if out.key_status not in ("active", "retired"):
            console.print(f"[red]✗[/] checkpoint key: {out.key_status}", highlight=False)
        if remote_note:
            style = "yellow" if remote_note.startswith("WARNING") else "green"
            console.print(f"[{style}]{shown(remote_note)}[/]", highlight=False)
    if not out.ok:
        raise IntegrityViolation("the ledger does not verify against the checkpoint"
                                 + (f": {out.checkpoint.reason}" if out.checkpoint.reason else ""))


def _check_remote(base_url: str, held: CheckpointFile) -> str:
    """Fetch the served tree head and a consistency proof from it to the held checkpoint; describe the result."""
    import httpx

    from circulith.ledger import merkle
    from circulith.ledger.checkpoint import SignedTreeHead, check_signed_head
    from circulith.ledger.signing import public_key_from_jwk

    base = base_url.rstrip("/") + "/api/v1/ledger"
    try:
        served = SignedTreeHead.model_validate(httpx.get(f"{base}/tree-head", timeout=30).raise_for_status().json())
        m, n = held.tree_head.tree_size, served.tree_size
        if n < m:
            return f"WARNING: {base_url} serves a tree head of {n} events, smaller than the held {m}"
        check_signed_head(served, {held.tree_head.key_id: public_key_from_jwk(held.key)} | (
            {} if served.key_id == held.tree_head.key_id else _remote_keys(base)))
        proof = httpx.get(f"{base}/consistency", params={"first": m, "second": n}, timeout=60).raise_for_status().json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"WARNING: could not check {base_url}: {exc}"
    ok = merkle.verify_consistency(m, n, bytes.fromhex(held.tree_head.root_sha256), bytes.fromhex(served.root_sha256),
                                   [bytes.fromhex(p) for p in proof["proof"]])
    if not ok:
        return (f"WARNING: the tree head {base_url} serves ({n} events, root {served.root_sha256[:16]}…) is "
                f"inconsistent with the held checkpoint ({m} events)")
    return f"the tree head served by {base_url} ({n} events) is consistent with the held checkpoint"


def _remote_keys(base: str) -> dict[str, Ed25519PublicKey]:
    import httpx

    from circulith.ledger.signing import public_key_from_jwk

    keys = httpx.get(f"{base}/keys", timeout=30).raise_for_status().json()
    return {k["key_id"]: public_key_from_jwk(k["jwk"]) for k in keys}


@ledger_app.command("status")
def ledger_status_command(
    verify_all: Annotated[bool, typer.Option("--verify", help="Also verify every chain (authorities, the "
                                                              "Commission and the operator).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """The ledger's head, as ``GET /api/v1/ledger/head`` (with --verify: ``/ledger/verify``)."""
    from circulith.services.fleet import ledger_status

    out = call_service(ledger_status, full=verify_all)
    if json_out:
        emit_json(out)
        return
    console.print(f"head #{out.head_global_seq} {out.head_sha256}")
    if out.ok is not None:
        console.print(f"{'intact' if out.ok else 'NOT intact'}: {out.events_checked} events, "
                      f"{out.batteries_checked} batteries checked")
        for f in out.findings or []:
            console.print(f"[red]✗[/] {shown(f)}", highlight=False)


@ledger_app.command("watch")
def ledger_watch(
    remote: Annotated[str, typer.Option("--remote", help="Base URL of the registry API.")],
    held_file: Annotated[Path, typer.Option("--held", help="File of the tree head last seen (created on first use).")],
) -> None:
    """A participant's check, without the database: the served tree head must extend the one held; keep the new one.

    The signature is checked with the key held from earlier runs (trust on first use; a rotated key
    must itself be published by the registry); the registry must prove consistency from the held head.
    """
    import json

    import httpx

    from circulith.ledger import merkle
    from circulith.ledger.checkpoint import SignedTreeHead, check_signed_head
    from circulith.ledger.signing import public_key_from_jwk

    base = remote.rstrip("/") + "/api/v1/ledger"
    try:
        served = SignedTreeHead.model_validate(httpx.get(f"{base}/tree-head", timeout=30).raise_for_status().json())
        published = {k["key_id"]: k["jwk"] for k in httpx.get(f"{base}/keys", timeout=30).raise_for_status().json()}
    except (httpx.HTTPError, ValueError) as exc:
        raise IntegrityViolation(f"could not read the tree head served by {remote}: {exc}") from exc
    held = json.loads(held_file.read_text(encoding="utf-8")) if held_file.exists() else None
    keys = dict(held["keys"]) if held else {}
    for kid, jwk in published.items():
        keys.setdefault(kid, jwk)
    check_signed_head(served, {k: public_key_from_jwk(v) for k, v in keys.items()})
    if held:
        old = SignedTreeHead.model_validate(held["tree_head"])
        m, n = old.tree_size, served.tree_size
        if n < m:
            raise IntegrityViolation(f"WARNING: {remote} serves a tree head of {n} events, smaller than the {m} held")
        proof = httpx.get(f"{base}/consistency", params={"first": m, "second": n}, timeout=60).raise_for_status().json()
        if not merkle.verify_consistency(m, n, bytes.fromhex(old.root_sha256), bytes.fromhex(served.root_sha256),
                                         [bytes.fromhex(p) for p in proof["proof"]]):
            raise IntegrityViolation(f"WARNING: the tree head {remote} serves ({n} events) is inconsistent with the "
                                     f"one held ({m} events, issued {old.issued_at}): the registry rewrote its history")
        console.print(f"[green]✓[/] {shown(remote)} grew from {m} to {n} events consistently", highlight=False)
    else:
        console.print(f"first tree head held: {served.tree_size} events, root {served.root_sha256}", highlight=False)
    held_file.write_text(json.dumps({"tree_head": served.model_dump(), "keys": keys}, indent=1) + "\n",
                         encoding="utf-8")


@ledger_app.command("checkpoint")
def ledger_checkpoint(
    out: Annotated[Path | None, typer.Option("--out", help="Write the checkpoint file here.")] = None,
    key_dir: KeyDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Issue a signed tree head over every event now stored (RFC 9162 Merkle root, Ed25519 JWS) and record it.

    Signed by circulith --as ORG, an operator (default: the only organisation with the operator role).
    """
    from circulith.services import ledger_trust

    engine = _engine()
    principal = _signing_principal(engine)
    cp = ledger_trust.issue_checkpoint(engine, principal, directory=key_dir)
    text = cp.model_dump_json(indent=1)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    if json_out:
        emit_json(cp)
    else:
        head = cp.tree_head
        console.print(f"[green]✓[/] tree head: {head.tree_size} events, root {head.root_sha256}, signed by "
                      f"{shown(head.key_id)} at {head.issued_at}" + (f"; checkpoint written to {shown(out)}" if out else ""))


@ledger_app.command("schedule")
def ledger_schedule(
    interval_s: Annotated[float, typer.Option("--interval", min=1.0, help="Seconds between checkpoints.")] = 3600.0,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Write each checkpoint file into this directory.")]
    = None,
    count: Annotated[int, typer.Option("--count", min=0, help="Stop after this many rounds (0: run until stopped).")]
    = 0,
    key_dir: KeyDirOpt = None,
) -> None:
    """Issue a signed tree head every --interval seconds when the ledger has grown (run it under a supervisor).

    Signed by circulith --as ORG, an operator (default: the only organisation with the operator role).
    """
    from circulith.services import ledger_trust

    engine = _engine()
    principal = _signing_principal(engine)
    last = -1
    rounds = 0
    while count == 0 or rounds < count:
        cp = ledger_trust.issue_checkpoint(engine, principal, directory=key_dir)
        size = cp.tree_head.tree_size
        if size != last:
            if out_dir:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"checkpoint-{size:012d}.json").write_text(cp.model_dump_json(indent=1) + "\n",
                                                                       encoding="utf-8")
            err_console.print(f"tree head at {size} events: {cp.tree_head.root_sha256}")
            last = size
        rounds += 1
        if count == 0 or rounds < count:
            time.sleep(interval_s)


@ledger_app.command("keygen")
def ledger_keygen(
    org: Annotated[str | None, typer.Option("--org", help="Organisation the key signs for (default: the one "
                                                          "the command acts as).")] = None,
    key_dir: KeyDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make a new Ed25519 signing key for an organisation (rotation: its previous key is retired, not revoked).

    Acts as circulith --as ORG: an organisation makes its own keys, the registry operator (the default) anyone's.
    """
    from circulith.services import ledger_trust

    principal = acting_principal()
    key = ledger_trust.create_key(_engine(), principal, org or principal.org_id or "", directory=key_dir)
    if json_out:
        emit_json(key)
    else:
        console.print(f"[green]✓[/] key {shown(key.key_id)} for {shown(key.org_id)} (private key in "
                      f"{shown(ledger_trust.key_dir(key_dir))})", highlight=False)


@ledger_app.command("revoke-key")
def ledger_revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key to revoke.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the key).")],
) -> None:
    """Revoke a signing key: signatures it makes from now on are refused; its history stays published.

    Acts as circulith --as ORG: the key's own organisation, or the registry operator (the default).
    """
    from circulith.services import ledger_trust

    key = ledger_trust.revoke_key(_engine(), acting_principal(), key_id, reason)
    console.print(f"key {key.key_id} revoked at {key.revoked_at}", highlight=False)


@ledger_app.command("keys")
def ledger_keys(org: Annotated[str | None, typer.Option("--org", help="Only this organisation's keys.")] = None,
                json_out: JsonOpt = False) -> None:
    """The published signing keys with their history (JWK)."""
    from circulith.services import ledger_trust

    keys = ledger_trust.published_keys(_engine(), acting_principal(), org)
    if json_out:
        emit_json(keys)
        return
    for k in keys:
        console.print(f"{shown(k.key_id)}  {k.status:8}  created {k.created_at}  x={k.jwk['x']}", highlight=False)


@ledger_app.command("sign-events")
def ledger_sign_events(
    key_dir: KeyDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Sign every unsigned event with the active key of the organisation that recorded it.

    Acts as circulith --as ORG: an organisation signs only its own events; the operator (the default) every
    organisation's whose key is in the key directory.
    """
    from circulith.services import ledger_signatures

    engine = _engine()
    principal = _signing_principal(engine)
    out = ledger_signatures.sign_events(engine, principal, directory=key_dir)
    if json_out:
        emit_json(out)
        return
    console.print(f"signed {out.signed} events", highlight=False)
    for who, n in sorted(out.unsigned_by_org.items()):
        console.print(f"[yellow]![/] {n} events by {shown(who)} left unsigned (no key of {shown(who)} in the key directory)",
                      highlight=False)


@ledger_app.command("verify-signatures")
def ledger_verify_signatures(json_out: JsonOpt = False) -> None:
    """Check every event's signature against the organisations' published keys and their history."""
    from circulith.services import ledger_signatures

    out = ledger_signatures.verify_event_signatures(_engine(), acting_principal())
    if json_out:
        emit_json(out)
    else:
        for line in out.invalid[:50]:
            console.print(f"[red]✗[/] {shown(line)}", highlight=False)
        console.print(f"{out.signed} of {out.events} events signed; {len(out.invalid)} invalid; unsigned by "
                      f"organisation: {shown(out.unsigned_by_org or 'none')}", highlight=False)
    if not out.ok:
        raise IntegrityViolation(f"{len(out.invalid)} event signature(s) do not verify; first: {out.invalid[0]}")


@ledger_app.command("export-passport")
def ledger_export_passport(
    identifier: Annotated[str, typer.Argument(help="Any identifier of the battery.")],
    out: Annotated[Path, typer.Option("--out", help="Write the signed passport bundle here.")],
) -> None:
    """Export a passport with the signed events it rests on and the keys, to verify offline.

    Acts as circulith --as ORG: the battery's maker or holder, an authority, or the operator (the default).
    """
    from circulith.services import ledger_signatures

    engine = _engine()
    principal = _signing_principal(engine)
    bundle = ledger_signatures.export_signed_passport(engine, principal, identifier)
    out.write_text(bundle.model_dump_json(indent=1) + "\n", encoding="utf-8")
    console.print(f"signed passport of {shown(bundle.battery_id)} written to {shown(out)} ({1 + len(bundle.dynamic_events)} signed "
                  "events)", highlight=False)


@ledger_app.command("verify-passport")
def ledger_verify_passport(
    bundle_file: Annotated[Path, typer.Argument(help="A signed passport bundle (ledger export-passport).")],
    keys_file: Annotated[Path | None, typer.Option("--keys", help="Published keys you hold (JSON list as served by "
                                                   "/api/v1/ledger/keys); default: the keys in the bundle.")] = None,
) -> None:
    """Verify an exported passport offline (no database): signatures, document and dynamic values."""
    import json

    from pydantic import ValidationError

    from circulith.errors import InvalidInput, Problem
    from circulith.ledger.attestation import PassportBundle, PublishedKey
    from circulith.services.ledger_signatures import verify_exported_passport

    try:
        bundle = PassportBundle.model_validate_json(bundle_file.read_text(encoding="utf-8"))
        trusted = None
        if keys_file is not None:
            trusted = [PublishedKey(key_id=k["key_id"], org_id=k["org_id"], jwk=k["jwk"], created_at=k["created_at"],
                                    revoked_at=k.get("revoked_at"), retired_at=k.get("retired_at"))
                       for k in json.loads(keys_file.read_text())]
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(Problem(None, "", f"not a signed passport bundle or key list: {str(exc).splitlines()[0]}"),
                           source=str(bundle_file)) from exc
    problems = verify_exported_passport(bundle, trusted)
    for p in problems:
        console.print(f"[red]✗[/] {shown(p)}", highlight=False)
    if problems:
        raise IntegrityViolation(f"the passport of {bundle.battery_id} does not verify: {problems[0]}")
    console.print(f"[green]✓[/] the passport of {shown(bundle.battery_id)} verifies: signed by "
                  f"{shown(', '.join(sorted({k['org_id'] for k in bundle.keys})))}", highlight=False)


def register(app: typer.Typer) -> None:
    """Attach the ledger commands to the root app (replacing an earlier ``ledger`` group)."""
    app.add_typer(ledger_app, name="ledger")
