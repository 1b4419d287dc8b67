"""Catena-X ``io.catenax.battery.battery_pass`` (Eclipse Tractus-X, CC BY 4.0), 5.x and 6.x, both ways.

- :mod:`.schema`: the shipped 6.1.0 JSON Schema and validation against it.
- :mod:`.mapping`: the one mapping table between a passport and a Catena-X document.
- :mod:`.io`: :func:`read_catenax` and :func:`export_catenax`, both walking the table.

A passport read from a Catena-X document keeps the document (``Passport.received``); its export
writes that document back with the values the passport changed since. A circulith passport of
another origin cannot fill every property the Catena-X schema requires (data-carrier layout,
classification codes, per-metal documentation ...): its export is refused with every missing
property named.
"""

from circulith.passport.formats.catenax.io import export_catenax, read_catenax
from circulith.passport.formats.catenax.schema import read_catenax_schema, validate_catenax

__all__ = ["export_catenax", "read_catenax", "read_catenax_schema", "validate_catenax"]
