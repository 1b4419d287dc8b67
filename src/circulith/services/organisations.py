"""Use cases: register the organisations of a registry and list them.

A registry built from one's own files (not the demo) needs its parties registered before anyone can
act as them (``circulith --as ORG``, API users and keys). Only the registry operator registers
organisations; everyone may list them (names and roles are not confidential).
"""

from __future__ import annotations

import re

from pydantic import BaseModel
from sqlalchemy.orm import Session

from circulith.auth.errors import AccessDenied
from circulith.auth.policy import Principal, Role
from circulith.errors import InvalidInput, Problem
from circulith.store import platform_repo as repo
from circulith.store.models import Organisation
from circulith.store.registry import ensure_organisations

_ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class OrganisationOut(BaseModel):
    """A registered organisation."""

    org_id: str
    name: str
    role: str
    country: str | None


class OrganisationAdded(BaseModel):
    """Outcome of registering an organisation (idempotent: ``created`` is False when it was known)."""

    organisation: OrganisationOut
    created: bool


def register_organisation(session: Session, principal: Principal, *, org_id: str, name: str, role: str,
                          country: str | None = None) -> OrganisationAdded:
    """Register an organisation with its role (registry operator only).

    Raises
    ------
    AccessDenied
        The principal is not the registry operator.
    InvalidInput
        Malformed id, unknown role, country not ISO 3166-1 alpha-2, or an id already registered with
        other details (an organisation's role is never changed silently).
    """
    if not principal.is_operator:
        raise AccessDenied("only the registry operator registers organisations")
    problems = []
    if not _ORG_ID.match(org_id):
        problems.append(Problem(None, "org_id", "1-120 letters, digits, '.', '_' or '-', starting with a letter "
                                "or digit"))
    if role not in {r.value for r in Role}:
        problems.append(Problem(None, "role", f"unknown role '{role}' (use {', '.join(r.value for r in Role)})"))
    if country is not None and not _COUNTRY.match(country):
        problems.append(Problem(None, "country", f"'{country}' is not an ISO 3166-1 alpha-2 code (e.g. DE)"))
    if not name.strip():
        problems.append(Problem(None, "name", "empty"))
    if problems:
        raise InvalidInput(problems)
    known = repo.get_organisation(session, org_id)
    if known is not None:
        if (known.name, known.role, known.country) != (name, role, country):
            raise InvalidInput(Problem(None, "org_id", f"'{org_id}' is already registered as {known.role} "
                                       f"'{known.name}' ({known.country or 'no country'})"))
        return OrganisationAdded(organisation=_out(known), created=False)
    ensure_organisations(session, [{"org_id": org_id, "name": name, "role": role, "country": country}])
    created = repo.get_organisation(session, org_id)
    assert created is not None
    return OrganisationAdded(organisation=_out(created), created=True)


def list_organisations(session: Session, principal: Principal) -> list[OrganisationOut]:
    """Every registered organisation with its role and country."""
    del principal  # names and roles of the registry's parties are public
    return [_out(o) for o in repo.list_organisations(session)]


def _out(org: Organisation) -> OrganisationOut:
    return OrganisationOut(org_id=org.org_id, name=org.name, role=org.role, country=org.country)
