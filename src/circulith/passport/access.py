"""The Annex XIII access lattice: who may see which passport attributes.

Regulation (EU) 2023/1542 gives every passport attribute one of four *access points* (the "access
right" column of the Battery Pass longlist v1.2):

=====================================  ==============================================================
access point                           attributes
=====================================  ==============================================================
``PUBLIC``                             Annex XIII point 1 (battery model, publicly accessible)
``LEGITIMATE_INTEREST_AND_COMMISSION`` Annex XIII point 2 (detailed composition, part numbers, spare
                                       parts, dismantling, safety measures)
``AUTHORITIES``                        Annex XIII point 3 (results of test reports proving compliance)
``LEGITIMATE_INTEREST``                Annex XIII point 4 (the individual battery: performance values,
                                       state of health, status, use data, accidents)
=====================================  ==============================================================

Art. 77(2), second subparagraph, says who may access what:

(a) point 1 is publicly accessible;
(b) points 2 and 3 are accessible only to notified bodies, market surveillance authorities and the
    Commission;
(c) points 2 and 4 are accessible only to persons with a legitimate interest (for the purposes of
    Art. 77(2), third subparagraph: repair, remanufacturing, second life, recycling; or making the
    battery available to aggregators or energy-market participants).

Annex XIII's own heading for point 2 names "persons with a legitimate interest and the Commission";
Art. 77(2)(b) adds notified bodies and market surveillance authorities. We follow the article (the
wider of the two), so the entitlement table is:

================  ======  ===================  ============================  ===========
audience          PUBLIC  LEGITIMATE_INTEREST  LEGITIMATE_INTEREST_AND_COMM  AUTHORITIES
================  ======  ===================  ============================  ===========
public            yes     -                    -                             -
legitimate        yes     yes (77(2)(c))       yes (77(2)(c))                -
commission        yes     -                    yes (77(2)(b))                yes (77(2)(b))
authority         yes     -                    yes (77(2)(b))                yes (77(2)(b))
================  ======  ===================  ============================  ===========

"authority" means a notified body or a market surveillance authority. The entitlements, ordered by
set inclusion, form a lattice that is not a chain: ``public`` is below everything, while
``legitimate`` and ``commission``/``authority`` are incomparable (a recycler sees the state of
health but not the test reports; the Commission sees the test reports but not the state of health).
The Commission and the authorities have the same entitlements under Art. 77(2).
"""

from __future__ import annotations

from enum import StrEnum

from circulith.errors import InvalidInput, Problem

__all__ = [
    "ENTITLEMENTS",
    "AccessPoint",
    "Audience",
    "entitled",
    "may_see",
    "parse_audience",
    "sees_at_most",
]


class AccessPoint(StrEnum):
    """The access right attached to an attribute (Annex XIII points 1-4)."""

    PUBLIC = "public"
    LEGITIMATE_INTEREST = "legitimate_interest"
    LEGITIMATE_INTEREST_AND_COMMISSION = "legitimate_interest_and_commission"
    AUTHORITIES = "authorities"


class Audience(StrEnum):
    """Who is asking. Values are the CLI levels ``public|legitimate|commission|authority``."""

    PUBLIC = "public"
    LEGITIMATE = "legitimate"
    COMMISSION = "commission"
    AUTHORITY = "authority"


_P, _LI, _LIC, _A = (
    AccessPoint.PUBLIC,
    AccessPoint.LEGITIMATE_INTEREST,
    AccessPoint.LEGITIMATE_INTEREST_AND_COMMISSION,
    AccessPoint.AUTHORITIES,
)

#: Audience -> the access points it is entitled to (Art. 77(2); see the module notes).
ENTITLEMENTS: dict[Audience, frozenset[AccessPoint]] = {
    Audience.PUBLIC: frozenset({_P}),
    Audience.LEGITIMATE: frozenset({_P, _LI, _LIC}),
    Audience.COMMISSION: frozenset({_P, _LIC, _A}),
    Audience.AUTHORITY: frozenset({_P, _LIC, _A}),
}

_ALIASES = {
    "public": Audience.PUBLIC,
    "legitimate": Audience.LEGITIMATE,
    "legitimate_interest": Audience.LEGITIMATE,
    "commission": Audience.COMMISSION,
    "authority": Audience.AUTHORITY,
    "authorities": Audience.AUTHORITY,
    "notified_body": Audience.AUTHORITY,
    "market_surveillance": Audience.AUTHORITY,
}


def parse_audience(value: str | Audience) -> Audience:
    """Audience from its CLI level (``public|legitimate|commission|authority``) or an alias.

    Raises
    ------
    InvalidInput
        For an unknown level.
    """
    if isinstance(value, Audience):
        return value
    key = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in _ALIASES:
        raise InvalidInput(
            Problem(
                None,
                "audience",
                f"unknown access level {value!r}; use public, legitimate, commission or authority",
            )
        )
    return _ALIASES[key]


def entitled(audience: str | Audience) -> frozenset[AccessPoint]:
    """The access points an audience may see."""
    return ENTITLEMENTS[parse_audience(audience)]


def may_see(audience: str | Audience, point: str | AccessPoint) -> bool:
    """Whether ``audience`` may see attributes of access point ``point``."""
    return AccessPoint(point) in entitled(audience)


def sees_at_most(a: str | Audience, b: str | Audience) -> bool:
    """Lattice order: whether everything ``a`` may see, ``b`` may see too."""
    return entitled(a) <= entitled(b)
