"""Which Annex XIII access point guards each key of a ledger event's payload.

Event payloads repeat passport data (a BMS reading carries the state of health, the ``registered``
event the passport's dynamic block, an installation the vehicle), so their keys are filtered by the
same rule table as the passport view: a key that is a passport attribute (``status``) or a dynamic
value (``soh_pct`` is ``dynamic.soh_pct``) takes that attribute's access in
``passport_attributes.csv``; keys that restate an attribute under another name, or carry data the
passport has no attribute for, are listed in ``event_payload_access.csv`` (each row naming the
attribute it follows or its own access, with a source). Keys in neither are not passport data (the
caller decides: custody facts, or the recording organisation's private record).
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache

from circulith.passport.access import AccessPoint
from circulith.passport.attributes import read_passport_attributes
from circulith.reference.loader import read_text

__all__ = ["payload_key_access", "read_payload_access"]


def _attribute_access(path: str) -> AccessPoint:
    attrs = read_passport_attributes()
    if not path.endswith("."):
        return attrs[path].access
    points = {a.access for p, a in attrs.items() if p.startswith(path)}
    if len(points) != 1:
        raise ValueError(f"event_payload_access.csv: the attributes under '{path}' have no single access ({points})")
    return points.pop()


@lru_cache(maxsize=1)
def read_payload_access() -> dict[str, AccessPoint]:
    """Payload key -> access point, from the shipped ``event_payload_access.csv``.

    A row names either a passport attribute (``dynamic.soh_pct``; a path ending in ``.`` names all
    attributes below it, which must share one access) or its own access point.
    """
    text, _ = read_text("event_payload_access.csv")
    out: dict[str, AccessPoint] = {}
    with io.StringIO(text, newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["key"]] = _attribute_access(row["attribute"]) if row["attribute"] else AccessPoint(row["access"])
    return out


def payload_key_access(key: str) -> AccessPoint | None:
    """The access point guarding payload key ``key``, or None when the key is no passport data.

    Parameters
    ----------
    key : str
        A top-level key of an event payload.
    """
    table = read_payload_access()
    if key in table:
        return table[key]
    attrs = read_passport_attributes()
    for path in (f"dynamic.{key}", key):
        if path in attrs:
            return attrs[path].access
    return None
