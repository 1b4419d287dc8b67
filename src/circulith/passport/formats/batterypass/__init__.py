"""The Battery Pass data model v1.2 (Battery Pass consortium, CC BY 4.0), both ways.

- :mod:`.schema`: the shipped JSON Schemas of the seven aspects and validation against them.
- :mod:`.mapping`: the one mapping table between a passport and a Battery Pass document.
- :mod:`.codecs`, :mod:`.vocabulary`: value conversions and the shipped vocabulary tables.
- :mod:`.export`, :mod:`.importing`: the two directions, both walking the one table.

The Battery Pass document is a dict with one entry per aspect (``GeneralProductInformation``,
``CarbonFootprintForBatteries``, ``SupplyChainDueDiligence``, ``MaterialComposition``,
``Circularity``, ``Labeling``, ``PerformanceAndDurability``), each valid against the aspect's JSON
Schema shipped in ``circulith/reference/batterypass/``, plus an entry ``circulith`` carrying what the
Battery Pass model cannot hold, so that ``import_batterypass(export_batterypass(p)) == p``.

The export is the operator's complete document, not an audience view: it includes the test reports
(authorities only) and the use data (legitimate interest only). Give audiences
:func:`circulith.passport.attributes.view` instead.

Defects of the published model, and what we do about them:

- ``batteryPassportIdentifier`` must match ``^urn:[a-z0-9]+:[a-z0-9]+$``: it rejects GS1 Digital Link
  and IEC 61406 identifiers and even a hyphenated ``urn:uuid``. An identifier that matches (such as
  ``urn:bmwk:123456687678``) is written as it is; ``urn:uuid:`` ids as ``urn:uuid:{32 hex digits}``
  (hyphens dropped, reversible on import); any other passport id as
  ``urn:circulith:{first 32 hex digits of its SHA-256}`` with the real id in the ``circulith`` entry.
- ``manufacturingDate`` is a full timestamp where the Regulation asks for year and month: we write
  the first instant of the month in UTC and read back ``YYYY-MM``. Same for ``puttingIntoService``.
- ``warrentyPeriod`` (sic) is typed as a month of the year (``--MM``) and cannot hold a period: we
  write the month of manufacture and carry ``warranty_years`` in the ``circulith`` entry.
- ``temperatureRangeIdleState`` is one number for a range: we write the lower boundary; the upper
  one travels in the ``circulith`` entry.
- ``emailAddress`` of operator and manufacturer has a broken pattern (``[w.-]`` for ``[\\w.-]``) that
  rejects real addresses: we leave it out and carry ``contact`` in the ``circulith`` entry.
- misspelt property names (``warrentyPeriod``, ``batteryTechicalProperties``,
  ``remainingEnergyalue``, ``supplyChainIndicies``) are used as published in the document only;
  our own names are spelt correctly.
- Every ``batteryCondition`` entry is required, including values that only exist after use. A
  passport without them cannot be exported in strict mode (the error lists what is missing).
- ``carbonFootprintPerLifecycleStage`` may list any of the four stages; the export writes the ones
  the passport holds.

Derived values: capacity fade, power fade and round-trip-efficiency fade are computed from the
remaining and rated values; evolution of self-discharge from the current and initial rates; the
power-to-energy ratio from original power and rated energy. Original and remaining power are
declared at 80 % state of charge (Annex IV Part B(4) names 80 % and 20 %; we hold one value).
"""

from circulith.passport.formats.batterypass.export import export_batterypass
from circulith.passport.formats.batterypass.importing import import_batterypass
from circulith.passport.formats.batterypass.schema import (
    ASPECTS,
    read_batterypass_schema,
    validate_aspect,
    validate_batterypass,
)

__all__ = [
    "ASPECTS",
    "export_batterypass",
    "import_batterypass",
    "read_batterypass_schema",
    "validate_aspect",
    "validate_batterypass",
]
