"""IDTA 02035 Digital Battery Passport (parts 1-7, AAS v3) in and out, through aas-core3.0.

- :mod:`.environment`: an AAS environment as a view keyed by idShort; writing values into it.
- :mod:`.mapping`: the one mapping table between a passport and the submodels.
- :mod:`.io`: :func:`read_aas`, :func:`read_aasx`, :func:`export_aas`.
"""

from circulith.passport.formats.aas.io import check_semantic_ids, export_aas, read_aas, read_aasx, write_aasx

__all__ = ["check_semantic_ids", "export_aas", "read_aas", "read_aasx", "write_aasx"]
