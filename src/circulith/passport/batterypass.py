"""Battery Pass v1.2 export and import: kept as an import path; the code is in
:mod:`circulith.passport.formats.batterypass`."""

from circulith.passport.formats.batterypass import (
    ASPECTS,
    export_batterypass,
    import_batterypass,
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
