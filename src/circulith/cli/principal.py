"""Who a CLI command acts as when it computes on the user's own inputs and reads no registry.

Every command acts as the principal named by the global option (``circulith --as ORG``, else
``CIRCULITH_AS``, else the registry operator; see :func:`circulith.cli.common.acting_principal`). A
calculation on figures the user gives (``recovery run``, ``forecast run``, ...) takes that principal too,
since its service does, but needs no database when none is named: with no ``--as`` it acts as the
registry operator without opening one, and with ``--as ORG`` the organisation is looked up in the
registry as for any other command.
"""

from __future__ import annotations

from circulith.auth.policy import ALL_SCOPES, Principal, Role
from circulith.cli.common import acting_principal, state


def registry_operator() -> Principal:
    """The registry operator as a local run sees it before any organisation is registered.

    The same principal :func:`circulith.services.credentials.principal_for_cli` gives when nothing is named
    and the registry lists no organisations: whoever runs the registry's database.
    """
    from circulith.services.registry import REGISTRY_ORG

    return Principal(org_id=REGISTRY_ORG, role=Role.OPERATOR, scopes=ALL_SCOPES, via="cli")


def calculation_principal() -> Principal:
    """The acting principal of a calculation on the user's own inputs (no database unless ``--as`` is given).

    Raises
    ------
    NotAuthenticated
        If ``--as`` / ``CIRCULITH_AS`` names an organisation the registry does not list.
    """
    if state.acting_org_id() is None:
        return registry_operator()
    return acting_principal()
