"""Request and response bodies of the API (separate from the storage models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from circulith.passport.model import Passport
from circulith.services.platform import GRANT_PURPOSES

DynamicKey = Literal[
    "soh_pct", "remaining_capacity_ah", "remaining_energy_kwh", "remaining_power_w", "full_cycles",
    "energy_throughput_kwh", "capacity_throughput_ah", "deep_discharge_events", "overcharge_events",
    "time_above_max_temp_h", "time_below_min_temp_h", "internal_resistance_increase_pct", "soc_pct",
]
Purpose = Literal["repair", "remanufacturing", "preparing_for_reuse", "repurposing", "recycling", "energy_services"]
assert set(Purpose.__args__) == set(GRANT_PURPOSES)  # noqa: S101 - one list of purposes
EventKindIn = Literal[
    "manufactured", "placed_on_market", "installed", "bms_snapshot", "repaired", "module_replaced", "swapped",
    "removed", "collected", "shipped", "received", "tested", "graded", "repurposed", "reused", "remanufactured",
    "dismantled", "discharged", "shredded", "black_mass_lot_created", "refined", "material_output", "recycled",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemOut(BaseModel):
    """One problem with the request."""

    field: str | None = None
    reason: str
    row: int | None = None
    record_id: str | None = None


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a message, the offending field."""

    code: str
    message: str
    field: str | None = None
    problems: list[ProblemOut] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Every error response has this shape."""

    error: ErrorDetail


class PassportOut(BaseModel):
    """A passport as the caller may see it."""

    battery_id: str
    passport_id: str
    audience: Literal["public", "legitimate", "commission", "authority"]
    ground: str
    ceased: bool = Field(description="The battery is recycled: its passport has ceased (Art. 77(8)).")
    passport: dict[str, Any]
    state: dict[str, Any] | None = Field(None, description="Registry state (legitimate interest only).")
    withheld: list[str] = Field(description="Attribute paths withheld from this caller.")


class PassportSummary(BaseModel):
    """One search result; restricted columns only where the caller has legitimate interest."""

    battery_id: str
    passport_id: str
    level: str
    parent_battery_id: str | None = None
    category: str
    chemistry: str
    model: str
    manufacturer_id: str
    manufacturing_date: str
    mass_kg: float
    rated_energy_kwh: float
    ceased: bool
    audience: str
    status: str | None = None
    lifecycle_state: str | None = None
    custodian_org_id: str | None = None
    custody_site_id: str | None = None
    region: str | None = None
    soh_pct: float | None = None


class PassportPage(BaseModel):
    """A page of search results."""

    items: list[PassportSummary]
    next_cursor: str | None = None


class BulkPassportsIn(_In):
    """Passports to register in one all-or-nothing request."""

    passports: list[Passport] = Field(min_length=1, max_length=500)


class CreatedOut(BaseModel):
    """What a registration did."""

    created: int
    unchanged: int
    battery_ids: list[str]


class ResolveOut(BaseModel):
    """The battery behind an identifier."""

    identifier: str
    scheme: str
    canonical: str
    battery_id: str
    passport_id: str
    level: str


class BatteryRef(BaseModel):
    """A link to another battery."""

    battery_id: str
    passport_id: str
    level: str
    ceased: bool


class LineageOut(BaseModel):
    """Pack ↔ modules ↔ cells, predecessor and successor passports (Art. 77(7))."""

    battery_id: str
    passport_id: str
    level: str
    ceased: bool
    audience: str
    parent: BatteryRef | None = None
    children: list[BatteryRef]
    predecessor: BatteryRef | None = None
    successors: list[BatteryRef]
    withheld: list[str]


class EventOut(BaseModel):
    """One ledger event; payload keys the caller may not see are listed in ``withheld``."""

    battery_seq: int
    global_seq: int
    event_id: str
    kind: str
    occurred_at: str
    actor_org_id: str
    site_id: str | None = None
    payload: dict[str, Any]
    withheld: list[str]
    content_sha256: str
    battery_chain_sha256: str
    global_chain_sha256: str


class HistoryOut(BaseModel):
    """A battery's ledger history."""

    battery_id: str
    audience: str
    events: list[EventOut]


class EventIn(_In):
    """A lifecycle event recorded by the caller's organisation (the actor is the caller)."""

    event_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")
    battery_id: str = Field(min_length=1, max_length=300, description="Any identifier of the battery.")
    kind: EventKindIn
    occurred_at: datetime
    site_id: str | None = Field(None, max_length=120)
    payload: dict[str, Any] = Field(default_factory=dict)


class DynamicIn(_In):
    """New dynamic values (recorded as a ``bms_snapshot`` event, never by editing the passport)."""

    values: dict[DynamicKey, float] = Field(min_length=1)
    occurred_at: datetime | None = None
    site_id: str | None = Field(None, max_length=120)


class AppendOut(BaseModel):
    """What an append did."""

    appended: int
    unchanged: int
    event_id: str
    head_global_seq: int
    head_sha256: str


class FleetOut(BaseModel):
    """Fleet aggregates within the caller's scope."""

    scope: str
    level: str
    batteries: int
    energy_mwh: float
    mass_t: float
    mean_soh_pct: float | None = None
    by_chemistry: dict[str, int]
    by_lifecycle_state: dict[str, int]
    by_status: dict[str, int]
    by_region: dict[str, int]
    by_production_year: dict[str, int]
    by_manufacturer: dict[str, int]
    soh_pct_bins: dict[str, int]
    retirements_by_year: dict[str, int]
    events_by_kind: dict[str, int]


class LedgerOut(BaseModel):
    """The ledger head and, for a verification, its outcome."""

    head_global_seq: int
    head_sha256: str
    ok: bool | None = None
    events_checked: int | None = None
    batteries_checked: int | None = None
    truncated: bool | None = None
    findings: list[str] | None = None


class GrantIn(_In):
    """A legitimate-interest request (Art. 77(2)) for one battery's restricted data."""

    battery_id: str = Field(min_length=1, max_length=300)
    purpose: Purpose
    justification: str = Field(min_length=10, max_length=2000)


class GrantDecisionIn(_In):
    """The operator's decision."""

    decision: Literal["approve", "refuse", "revoke"]
    note: str | None = Field(None, max_length=2000)
    valid_days: int = Field(90, ge=1, le=365)


class GrantOut(BaseModel):
    """An access grant."""

    grant_id: str
    org_id: str
    battery_id: str
    purpose: str
    justification: str
    status: str
    requested_at: str
    decided_at: str | None = None
    decision_note: str | None = None
    expires_at: str | None = None


class AccessLogItem(BaseModel):
    """One logged read of non-public data."""

    entry_id: int
    at: str
    org_id: str
    user_id: str | None = None
    key_id: str | None = None
    battery_id: str
    audience: str
    action: str
    ground: str


class AccessLogOut(BaseModel):
    """A page of the access log (newest first)."""

    items: list[AccessLogItem]
    next_before: int | None = None


class ApiKeyIn(_In):
    """A new API key for the caller's organisation."""

    name: str = Field(min_length=1, max_length=120)
    scopes: list[Literal["read", "write", "admin"]] = Field(min_length=1, max_length=3)
    valid_days: int = Field(30, ge=1, le=365)


class ApiKeyOut(BaseModel):
    """An API key (the secret only once, at creation)."""

    key_id: str
    name: str
    scopes: list[str]
    created_at: str
    expires_at: str
    revoked_at: str | None = None
    last_used_at: str | None = None
    secret: str | None = None


class LoginIn(_In):
    """E-mail and password."""

    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=200)


class MeOut(BaseModel):
    """Who the caller is."""

    org_id: str | None
    role: str | None
    user_id: str | None
    key_id: str | None
    scopes: list[str]
    via: str
    csrf_token: str | None = None


# ---------------------------------------------------------------- operations: triage, recovery, planning, jobs

Chemistry = Literal["NMC111", "NMC532", "NMC622", "NMC811", "NCA", "LFP", "LMO", "LTO", "NaIon"]
Form = Literal["cell", "module", "pack", "black_mass"]
Route = Literal["pyro", "hydro", "direct", "black_mass"]


class TriageGradeIn(_In):
    """Grade the packs awaiting evaluation that you may grade (your custody; the operator: all)."""

    chemistry: Chemistry | None = None
    application: str | None = Field(None, max_length=40, description="Second-life application (default: per chemistry).")
    limit: int | None = Field(None, ge=1, le=100_000, description="Grade at most this many packs.")
    preview: bool = Field(False, description="Grade without recording events (read scope suffices).")


class TriagePack(BaseModel):
    """One pack's grade."""

    battery_id: str
    chemistry: str | None = None
    grade: str | None = None
    application: str | None = None
    rule_id: str | None = None
    clause: str | None = None
    soh_pct: float | None = None
    soh_low_pct: float | None = None
    soh_high_pct: float | None = None
    further_test: str | None = None
    explanation: str | None = None
    custodian_org_id: str | None = None


class RegroupSummary(BaseModel):
    """Regrouped second-life packs of one chemistry and application."""

    groups: int
    usable_energy_kwh: float
    leftovers: int


class TriageGradeOut(BaseModel):
    """What grading did."""

    recorded: bool
    scope: str
    rules_version: str
    graded_packs: int
    counts: dict[str, dict[str, int]]
    events_written: int
    regroup: dict[str, RegroupSummary]
    packs: list[TriagePack]
    packs_truncated: bool


class GradedPack(BaseModel):
    """A pack's latest grade (from its ``graded`` event)."""

    battery_id: str
    chemistry: str
    graded_at: str
    grade: str
    application: str | None = None
    rule_id: str | None = None
    soh_pct: float | None = None
    pack_decision: str | None = None
    explanation: str | None = None


class RegroupedPack(BaseModel):
    """One regrouped second-life pack."""

    group: str
    chemistry: str
    application: str
    modules: int
    capacity_spread_pct: float
    usable_energy_kwh: float


class TriageOverviewOut(BaseModel):
    """Retirements and triage in the caller's scope."""

    graded_packs: int
    grades: dict[str, int]
    soh_pct_bins: dict[str, int]
    packs: list[GradedPack]
    regrouped: list[RegroupedPack]
    fit_modules: int


class PriceScenarioIn(_In):
    """A price scenario: the shipped prices as of a date, metal prices scaled."""

    price_date: date | None = Field(None, description="Prices in effect on this date (default: latest).")
    metal_price_multiplier: float = Field(1.0, gt=0, le=10, description="Scales Al, Co, Cu, Li2CO3, Mn, Ni prices.")


class RecoveryCompareIn(PriceScenarioIn):
    """A lot to run through every route."""

    chemistry: Chemistry
    form: Form = "pack"
    mass_kg: float = Field(1000.0, gt=0, le=1e9, description="Input mass [kg].")


class RecoveryRunIn(RecoveryCompareIn):
    """A lot to run through one route."""

    route: Route


class RecoveryRunOut(BaseModel):
    """Products, recoveries, money, energy, emissions and water of one route."""

    chemistry: str
    form: str
    route: str
    input_mass_kg: float
    price_date: str
    metal_price_multiplier: float
    operations: list[str]
    products: list[dict[str, Any]]
    element_input_kg: dict[str, float]
    element_recovery: dict[str, float]
    black_mass_kg: float
    revenue_usd: float
    processing_cost_usd: float
    capital_cost_usd: float
    reagent_cost_usd: float
    cost_usd: float
    net_usd: float
    energy_mj: float
    electricity_kwh: float
    natural_gas_mj: float
    ghg_kg_co2e: float
    direct_co2_kg: float
    water_m3: float
    reagents_kg: dict[str, float]
    mass_balance_error_kg: float
    eu_material_recovery: list[dict[str, Any]]


class RouteLine(BaseModel):
    """One route in a comparison."""

    revenue_usd: float
    cost_usd: float
    net_usd: float
    energy_mj: float
    ghg_kg_co2e: float
    water_m3: float
    black_mass_kg: float
    element_recovery: dict[str, float]


class RecoveryCompareOut(BaseModel):
    """Every route side by side."""

    chemistry: str
    form: str
    mass_kg: float
    price_date: str
    metal_price_multiplier: float
    theoretical_metal_value_usd_per_t: dict[str, float]
    routes: dict[str, RouteLine]


class ValueMatrixOut(BaseModel):
    """Net value of every route per chemistry [USD/t] under a price scenario."""

    form: str
    price_date: str
    metal_price_multiplier: float
    routes: list[str]
    rows: list[dict[str, str | float]]
    prices_usd_per_kg: dict[str, dict[str, float]]


class PriceOut(BaseModel):
    """A battery's best route and offer."""

    battery_id: str
    chemistry: str
    form: str
    mass_kg: float
    price_date: str
    metal_price_multiplier: float
    best_route: str
    destination: str
    revenue_usd: float
    processing_cost_usd: float
    logistics_usd: float
    margin_usd: float
    offer_usd: float
    net_by_route_usd: dict[str, float]


class PlantOut(BaseModel):
    """A plant with lot records you may report on."""

    plant_id: str
    org_id: str
    years: list[int]


class ComplianceOut(BaseModel):
    """A plant's compliance report for a year."""

    plant_id: str
    year: int
    counting_rules: dict[str, Any]
    input_lots: int
    product_lots: int
    input_mass_kg: float
    counted_input_mass_kg: float
    recycled_output_kg: float
    recycling_efficiency_pct: float | None = None
    material_recovery_pct: dict[str, float]
    energy_mj: float
    checks: list[dict[str, Any]]
    upcoming: list[dict[str, Any]]
    notes: list[str]
    model_config = ConfigDict(extra="allow")


class GradeJobIn(_In):
    """Grade the registry in the background."""

    chemistry: Chemistry | None = None
    application: str | None = Field(None, max_length=40)


class JobOut(BaseModel):
    """A background job and its progress."""

    job_id: str
    kind: str
    title: str
    owner_org_id: str
    status: Literal["queued", "running", "done", "failed"]
    done: int
    total: int
    percent: float
    stage: str
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
