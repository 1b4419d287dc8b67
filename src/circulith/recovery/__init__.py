"""Recovery: composition → unit operations → mass balance; valuation; pricing; compliance metrics.

Public entry points (all pure: plain data in, plain data out):

* composition: :func:`composition`, :func:`element_fractions`, :func:`apply_declared_metals`; any form
  including black mass: :func:`composition_in_form`, :func:`element_fractions_in_form`
* routes: :func:`compile_route`, :func:`apply_overrides`, :func:`default_parameters`
* prices: :func:`default_price_book`, :func:`price_book_from_rows`, :class:`PriceBook`
* valuation: :func:`evaluate`, :func:`theoretical_metal_value`, :func:`black_mass_value`,
  :func:`price_sensitivity`
* pricing: :func:`price_fleet`, :func:`price_battery`, :func:`price_lot`, :func:`value_tables`
* lots: :class:`InputLot`, :class:`IntermediateLot`, :class:`ProductLot`, :func:`lot_from_payload`,
  :func:`check_assay`, :func:`lot_yields`, :func:`trace_to_batteries`, :func:`allocate_recycled_content`
* compliance: :func:`compliance_report`, :class:`CountingRules`, :func:`material_recovery_check`,
  :func:`recycled_content_checks`
* conservation: :func:`circulith.recovery.conservation.check_conservation` (each element and each lot's
  mass consumed once, within the assay's uncertainty)
* plan: :func:`circulith.recovery.plan.plan_lots` (the lots the engine expects from an input lot)
* China traceability obligations: :mod:`circulith.recovery.traceability_rules`
* readers (files): :mod:`circulith.recovery.readers`
"""

from circulith.recovery.black_mass import composition_in_form, element_fractions_in_form
from circulith.recovery.compliance import (
    ComplianceReport,
    CountingRules,
    compliance_report,
    material_recovery_check,
    recycled_content_checks,
)
from circulith.recovery.composition import apply_declared_metals, composition, element_fractions
from circulith.recovery.lots import (
    InputLot,
    IntermediateLot,
    LotItem,
    NewBattery,
    ProductLot,
    RecycledContentShare,
    allocate_recycled_content,
    check_assay,
    lot_from_payload,
    lot_yields,
    trace_to_batteries,
)
from circulith.recovery.prices import PriceBook, default_price_book, price_book_from_rows
from circulith.recovery.pricing import price_battery, price_fleet, price_lot, value_tables
from circulith.recovery.routes import apply_overrides, compile_route, default_parameters
from circulith.recovery.valuation import (
    RecoveryResult,
    black_mass_value,
    evaluate,
    price_sensitivity,
    theoretical_metal_value,
)

__all__ = [
    "ComplianceReport", "CountingRules", "InputLot", "IntermediateLot", "LotItem", "NewBattery", "PriceBook",
    "ProductLot", "RecoveryResult", "RecycledContentShare", "allocate_recycled_content", "apply_declared_metals",
    "apply_overrides", "black_mass_value", "check_assay", "compile_route", "compliance_report", "composition", "composition_in_form",
    "default_parameters", "default_price_book", "element_fractions", "element_fractions_in_form", "evaluate", "lot_from_payload", "lot_yields",
    "material_recovery_check", "price_battery", "price_book_from_rows", "price_fleet", "price_lot",
    "price_sensitivity", "recycled_content_checks", "theoretical_metal_value", "trace_to_batteries", "value_tables",
]
