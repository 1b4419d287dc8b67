"""Web routes: login, dashboard pages with vendored ECharts and htmx, CSV downloads (public passport pages:
:mod:`circulith.web.pages_public`).

Every page reads through the same services as the API and the CLI (:mod:`circulith.services`), which
apply the access rules (:mod:`circulith.services.access_rules`).
Extension points for the triage, recovery and planning panels are the template blocks
``triage_panel``, ``recovery_panel`` and ``planning_panel`` of ``dashboard_base.html``, and the
``panels`` list of :data:`EXTRA_PAGES`.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from circulith.api.deps import OptionalPrincipal, current_principal, engine_of, run, settings_of
from circulith.auth.errors import NotAuthenticated, TooManyAttempts
from circulith.auth.policy import Principal
from circulith.auth.ratelimit import client_address
from circulith.auth.tokens import csrf_token
from circulith.errors import InvalidInput
from circulith.services import access as access_svc
from circulith.services import background, credentials
from circulith.services import fleet as fleet_svc
from circulith.services import planning as planning_svc
from circulith.services import triage_views as svc
from circulith.services.triage_views import triage_overview
from circulith.web.pages_access import access_context, grants_csv_rows, log_csv_rows
from circulith.web.pages_public import router as public_router
from circulith.web.pages_recovery import price_dates, recovery_charts
from circulith.web.templating import EXTRA_PAGES, PAGES, WEB, templates

router = APIRouter(include_in_schema=False)

FLEET_GRANTED_ROWS = 50
"""Granted passports listed on the fleet page (all of them: the access page and its CSV)."""

CSV_TABLES = {
    "chemistry": ("by_chemistry", "chemistry"), "lifecycle_state": ("by_lifecycle_state", "lifecycle_state"),
    "status": ("by_status", "status"), "region": ("by_region", "region"),
    "production_year": ("by_production_year", "production_year"), "manufacturer": ("by_manufacturer", "manufacturer_id"),
    "soh_bins": ("soh_pct_bins", "soh_pct_bin"), "retirements_by_year": ("retirements_by_year", "year"),
    "events_by_kind": ("events_by_kind", "kind"),
}


def _ctx(request: Request, principal: Principal, **extra: Any) -> dict[str, Any]:
    token = csrf_token(settings_of(request).secret_key, principal.session_digest) if principal.session_digest else ""
    return {"request": request, "principal": principal, "csrf": token, "pages": PAGES + tuple(EXTRA_PAGES),
            **extra}


def _chart(chart_id: str, title: str, data: dict[str, Any], kind: str = "bar") -> dict[str, Any]:
    return {"id": chart_id, "title": title, "kind": kind, "labels": list(data), "values": list(data.values())}


def _table_chart(chart_id: str, title: str, kind: str, columns: list[str], rows: list[list[Any]],
                 **spec: Any) -> dict[str, Any]:
    """A chart whose table has several columns (``columns``/``rows``, also its CSV)."""
    return {"id": chart_id, "title": title, "kind": kind, "columns": columns, "rows": rows, **spec}


def _blank(values: Any) -> bool:
    """Whether a series holds no data point (nothing, or only zeros and gaps)."""
    return not values or all(v in (None, 0) for v in values)


def chart_no_data(chart: dict[str, Any]) -> str | None:
    """What an empty chart would have shown (for its "No data for ... in your scope" line); None if it has data.

    A chart is empty when its series hold no point other than zero: no labels, no rows, or only zero
    counts (a histogram of nothing). The subject is the chart's ``what``, else its title up to the
    first unit bracket, parenthesis or colon.
    """
    kind = chart.get("kind")
    if kind == "table" or kind == "band":
        empty = not chart.get("rows")
    elif kind == "map":
        empty = not chart.get("rows") and not chart.get("places")
    elif kind == "grouped":
        empty = not chart.get("labels") or all(_blank(s.get("values")) for s in chart.get("series") or [])
    else:
        empty = _blank(chart.get("values")) and not chart.get("rows")
    if not empty:
        return None
    what = str(chart.get("what") or re.split(r" \[|\(|:", str(chart.get("title", "")), maxsplit=1)[0]).strip()
    return what[:1].lower() + what[1:] if what[1:2].islower() else what


templates.env.globals["no_data"] = chart_no_data


def _num(x: Any, digits: int = 1) -> Any:
    return None if x is None else round(float(x), digits)


def _triage_charts(request: Request, principal: Principal, _params: dict[str, str]) -> list[dict[str, Any]]:
    ov = run(request, triage_overview, principal)
    packs = [[p.battery_id, p.chemistry, p.grade, p.application or "", _num(p.soh_pct), p.rule_id or "",
              p.graded_at[:10]] for p in ov.packs]
    groups = [[g.group, g.chemistry, g.application, g.modules, g.capacity_spread_pct, g.usable_energy_kwh]
              for g in ov.regrouped]
    by_group = {g[0]: g[5] for g in groups}
    return [
        _chart("grade_mix", "Grade mix of graded packs", ov.grades, "pie"),
        _chart("graded_soh", "State of health of graded packs [%]", ov.soh_pct_bins),
        _table_chart("regrouped", "Regrouped second-life packs: usable energy [kWh]", "bar",
                     ["group", "chemistry", "application", "modules", "capacity_spread_pct", "usable_energy_kwh"],
                     groups, labels=list(by_group), values=list(by_group.values())),
        _table_chart("graded_packs", "Graded packs", "table",
                     ["battery_id", "chemistry", "grade", "application", "soh_pct", "rule_id", "graded_on"], packs),
    ]


def _planning_charts(request: Request, principal: Principal, params: dict[str, str]) -> list[dict[str, Any]]:
    f = planning_svc.forecast(principal, stream="feedstock", metric="tonnes")
    charts = []
    for region in f.regions:
        rows = [[r.year, _num(r.median), _num(r.lower), _num(r.upper)] for r in f.rows if r.region == region]
        slug = region.lower().replace(" ", "_")
        charts.append(_table_chart(f"forecast_{slug}", f"Recycling feedstock, {region} [t/yr]: median and "
                                   f"{int(f.interval[0] * 100)}–{int(f.interval[1] * 100)} % interval "
                                   f"({'' if f.calibration.status == 'ok' else 'WARNING: '}{f.calibration.message})",
                                   "band",
                                   ["year", "median_t", "lower_t", "upper_t"], rows))
    cap = planning_svc.capacity(principal)
    regions = sorted({r.region for r in cap.rows})
    years = sorted({r.year for r in cap.rows})
    gap = {(r.region, r.year): r.gap_t for r in cap.rows}
    series = [{"name": reg, "values": [_num(gap.get((reg, y)), 0) for y in years]} for reg in regions]
    charts.append(_table_chart("capacity_gap", f"Capacity gap: feedstock minus {cap.stage} capacity [t/yr] "
                               "(positive: deficit)", "grouped",
                               ["year", "region", "feedstock_t", "capacity_t", "gap_t", "position"],
                               [[r.year, r.region, _num(r.feedstock_t, 0), _num(r.capacity_t, 0),
                                 _num(r.gap_t, 0), r.position] for r in cap.rows],
                               labels=years, series=series, line=True))
    return charts


def _network_charts(request: Request, principal: Principal, params: dict[str, str]) -> list[dict[str, Any]]:
    plan = planning_svc.network_plan(principal)
    return network_plan_charts(plan)


def network_plan_charts(plan: planning_svc.NetworkOut) -> list[dict[str, Any]]:
    """Map, flows table (trucks per period and per week) and sites table of a network plan."""
    places = [p.model_dump() for p in plan.places]
    flows = [[fl.from_id, fl.to_id, fl.damage_state, round(fl.tonnes, 1), fl.trucks, round(fl.trucks_per_week, 2),
              round(fl.distance_km, 0), fl.regime] for fl in plan.flows]
    gap = "n/a" if plan.mip_gap is None else f"{plan.mip_gap:.2%}"
    greedy = "n/a" if plan.greedy_cost_usd is None else f"{plan.greedy_cost_usd:,.0f} USD"
    return [
        _table_chart("network_flows", f"Network plan ({plan.status}, cost {plan.objective_usd or 0:,.0f} USD per "
                     f"period, proven gap {gap}, greedy baseline {greedy}, {plan.trucks_per_week:,.1f} trucks/week, "
                     f"{plan.emissions_t_co2e:,.0f} t CO₂e): flows [t per period]", "map",
                     ["from_id", "to_id", "damage_state", "tonnes", "trucks", "trucks_per_week", "distance_km",
                      "regime"], flows, places=places, outline="/static/maps/europe_110m.geojson"),
        _table_chart("network_sites", "Sites and sources", "table", ["id", "name", "kind", "lat", "lon", "opened"],
                     [[p["id"], p["name"], p["kind"], p["lat"], p["lon"], p["opened"]] for p in places]),
    ]


def _compare_charts(request: Request, principal: Principal, params: dict[str, str]) -> list[dict[str, Any]]:
    from circulith.services.planning_compare import compare_example_scenarios

    def year(key: str, default: int) -> int:
        v = params.get(key, "")
        if not v.isdigit() or not 2000 <= int(v) <= 2100:
            return default
        return int(v)

    out = compare_example_scenarios(principal, from_year=year("from_year", 2025), to_year=year("to_year", 2035))
    names = [s.name for s in out.scenarios]
    others = [n for n in names if n != out.base]
    rows = [[r.figure, r.unit, r.region or "", r.chemistry or "", *(_num(r.values[n]) for n in names),
             *(_num(r.difference[n]) for n in others)] for r in out.rows]
    summary = [[s.name, s.cohorts_source, s.prices_source, s.network_inputs, s.network_status,
                s.calibration.status, s.calibration.message] for s in out.scenarios]
    value = next(r for r in out.rows if r.figure == "contained metal value")
    return [
        _table_chart("scenario_summary", "Scenarios: inputs, network status and how far to trust the ranges", "table",
                     ["scenario", "cohorts", "prices", "network inputs", "network", "ranges", "calibration"], summary),
        _table_chart("scenario_value", f"Contained metal value {out.from_year}–{out.to_year} [MUSD]", "bar",
                     ["scenario", "value_musd"], [[n, _num(value.values[n])] for n in names],
                     labels=names, values=[_num(value.values[n]) for n in names]),
        _table_chart("scenario_comparison", f"Scenarios side by side, {out.from_year}–{out.to_year}, differences to "
                     f"{out.base}", "table", ["figure", "unit", "region", "chemistry", *names,
                                             *(f"{n} − {out.base}" for n in others)], rows),
    ]


def _national_charts(request: Request, principal: Principal, params: dict[str, str]) -> list[dict[str, Any]]:
    from circulith.auth.errors import AccessDenied
    from circulith.services.national import flow_matrix, national_table, national_view

    region = (params.get("region") or "").strip()[:40] or None
    try:
        view = run(request, national_view, principal, request.app.state.engine, region=region)
    except AccessDenied as exc:  # the page says why instead of failing: other roles see the menu too
        return [_table_chart("national_access", "National view", "table", ["access"], [[str(exc)]])]
    regions, matrix = flow_matrix(view)
    inv_cols, inv_rows = national_table(view, "inventory")
    flow_cols, flow_rows = national_table(view, "flows")
    ret_cols, ret_rows = national_table(view, "retirements")
    years = [r.year for r in view.retirements]
    return [
        _table_chart("national_inventory", f"Inventory by status and chemistry ({view.scope}) [packs]", "table",
                     inv_cols, inv_rows),
        _table_chart("national_flows", f"Flows between regions ({view.scope}): packs registered in one region "
                     "entering custody in another [packs]", "table", ["from \\ to", *regions],
                     [[regions[k], *row] for k, row in enumerate(matrix)]),
        _table_chart("national_flow_list", "Flows between regions, one row per pair", "table", flow_cols, flow_rows),
        _table_chart("national_retirements", f"Registry retirements against forecast ({view.scope}) [packs/yr]; "
                     f"{view.forecast_note}", "grouped", ret_cols, ret_rows, labels=years,
                     series=[{"name": "observed", "values": [r.observed for r in view.retirements]},
                             {"name": "forecast median", "values": [_num(r.forecast_median, 2)
                                                                    for r in view.retirements]}], line=True),
        _table_chart("national_throughput", f"Registered plants ({view.scope}): input from their lots against "
                     "capacity [t/yr]", "table", *national_table(view, "throughput")),
        _table_chart("national_late_reporters", f"Traceability reporting ({view.scope}): late operators "
                     f"{', '.join(view.late_reporters.operators) or 'none'}; {view.late_reporters.note}", "table",
                     *national_table(view, "late_reporters")),
    ]


def _jobs_charts(request: Request, principal: Principal, params: dict[str, str]) -> list[dict[str, Any]]:
    jobs = background.list_jobs(request.app.state.jobs, principal)
    return [_table_chart("jobs", "Background jobs", "table",
                         ["job_id", "title", "status", "percent", "done", "total", "created_at", "finished_at",
                          "error"], [[getattr(j, c) for c in ("job_id", "title", "status", "percent", "done", "total",
                                                              "created_at", "finished_at", "error")] for j in jobs])]


PAGE_CHARTS = {"triage": _triage_charts, "recovery": recovery_charts, "planning": _planning_charts,
               "network": _network_charts, "compare": _compare_charts,
               "national": _national_charts, "jobs": _jobs_charts}
TABLE_PAGE = {"grade_mix": "triage", "graded_soh": "triage", "regrouped": "triage", "graded_packs": "triage",
              "route_values": "recovery", "prices": "recovery", "compliance": "recovery", "evidence": "recovery",
              "plan": "recovery", "traceability_record": "recovery", "capacity_gap": "planning",
              "network_flows": "network", "network_sites": "network", "scenario_comparison": "compare",
              "scenario_summary": "compare", "scenario_value": "compare", "national_flow_list": "national",
              "national_inventory": "national", "national_flows": "national", "national_retirements": "national",
              "national_throughput": "national", "national_late_reporters": "national", "jobs": "jobs"}
"""Which page builds each table of the extra pages (for its CSV download)."""


def _table_page(table: str) -> str | None:
    """The page whose charts include ``table`` (``forecast_<region>``: one chart per forecast region)."""
    if table in TABLE_PAGE:
        return TABLE_PAGE[table]
    return "planning" if table.startswith("forecast_") else None


def _chart_table(c: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    if "columns" in c:
        return c["columns"], c["rows"]
    return [c["id"], "count"], [list(x) for x in zip(c["labels"], c["values"], strict=True)]


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


# ---------------------------------------------------------------- landing and login


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, principal: OptionalPrincipal) -> Response:
    """Passport look-up for everyone; the dashboard link for logged-in users."""
    return templates.TemplateResponse(request, "landing.html", _ctx(request, principal))


@router.get("/lookup")
def lookup(identifier: str = "") -> Response:
    """Redirect a typed identifier to its public page."""
    return RedirectResponse(f"/p/{quote(identifier.strip()[:300], safe='')}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, principal: OptionalPrincipal, next: str = "/dashboard") -> Response:
    """The login form."""
    return templates.TemplateResponse(request, "login.html", _ctx(request, principal, next=_safe_next(next), error=None))


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/dashboard"


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request, email: str = Form(..., max_length=254), password: str = Form(..., max_length=200),
                 next: str = Form("/dashboard", max_length=300)) -> Response:
    """Check the password, set the session cookie, go to the dashboard."""
    settings = settings_of(request)
    peer = request.client.host if request.client else None
    client = client_address(peer, request.headers.get("x-forwarded-for"), settings.trusted_networks)
    try:
        cookie, _ = run(request, credentials.login, email, password, limiter=request.app.state.limiter, client=client,
                        secret_key=settings.secret_key)
    except (NotAuthenticated, TooManyAttempts) as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 401
        return templates.TemplateResponse(request, "login.html", _ctx(request, Principal(), next=_safe_next(next),
                                          error=str(exc)), status_code=status)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(settings.session_cookie, cookie, httponly=True, samesite="lax", secure=settings.cookie_secure,
                        max_age=int(credentials.SESSION_TTL.total_seconds()), path="/")
    return response


@router.post("/logout")
def logout_submit(request: Request, principal: Principal = Depends(current_principal)) -> Response:
    """End the session (CSRF-checked)."""
    run(request, credentials.logout, principal)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(settings_of(request).session_cookie, path="/")
    return response


# ---------------------------------------------------------------- dashboard


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_home(request: Request, principal: OptionalPrincipal) -> Response:
    """The dashboard starts on the fleet page."""
    return dashboard_page(request, principal, "fleet")


@router.get("/dashboard/{page}", response_class=HTMLResponse)
def dashboard_page(request: Request, principal: OptionalPrincipal, page: str) -> Response:
    """One dashboard page."""
    if not principal.authenticated:
        return _login_redirect(request)
    slugs = {p for p, _ in PAGES + tuple(EXTRA_PAGES)}
    if page not in slugs:
        return templates.TemplateResponse(request, "error.html", _ctx(request, principal, status=404,
                                          message=f"no dashboard page '{page}'"), status_code=404)
    data = run(request, fleet_svc.fleet, principal)
    charts: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if page == "fleet":
        charts = [_chart("chemistry", "Packs by chemistry", data.by_chemistry, "pie"),
                  _chart("region", "Packs by region", data.by_region),
                  _chart("production_year", "Packs by production year", data.by_production_year),
                  _chart("status", "Packs by passport status", data.by_status, "pie")]
        if principal.global_audience is None:  # a reuse customer's fleet may be only what it was granted
            granted = run(request, access_svc.granted_passports, principal, limit=FLEET_GRANTED_ROWS + 1).items
            extra["granted"] = [g.model_dump() for g in granted[:FLEET_GRANTED_ROWS]]
            extra["granted_more"] = len(granted) > FLEET_GRANTED_ROWS
    elif page == "retirements":
        charts = [_chart("lifecycle_state", "Packs by lifecycle state", data.by_lifecycle_state),
                  _chart("retirements_by_year", "Removals per year", data.retirements_by_year),
                  _chart("soh_bins", "State of health [%]", data.soh_pct_bins)]
    elif page == "ledger":
        charts = [_chart("events_by_kind", "Ledger events by kind", data.events_by_kind)]
        extra["ledger"] = run(request, fleet_svc.ledger_status, principal, full=principal.sees_whole_fleet)
    elif page == "access":
        extra.update(access_context(request, principal))
    elif page in PAGE_CHARTS:
        params = dict(request.query_params)
        charts = PAGE_CHARTS[page](request, principal, params)
        extra["query"] = ("?" + str(request.url.query)) if request.url.query else ""
        extra["params"] = params
        if page == "recovery":
            extra["price_dates"] = price_dates()
        if page == "jobs":
            extra["job_id"] = params.get("job")
    tables = {c["id"]: _chart_table(c) for c in charts}
    return templates.TemplateResponse(request, f"dashboard_{page}.html" if page in dict(PAGES) else f"{page}.html",
                                      _ctx(request, principal, page=page, fleet=data, charts=charts, tables=tables,
                                           **extra))


@router.get("/dashboard/csv/{table}.csv")
def dashboard_csv(request: Request, principal: OptionalPrincipal, table: str) -> Response:
    """Any dashboard table as CSV (same scope as the page)."""
    if not principal.authenticated:
        return _login_redirect(request)
    buf = io.StringIO()
    writer = csv.writer(buf)
    if table in CSV_TABLES:
        key, label = CSV_TABLES[table]
        data = run(request, fleet_svc.fleet, principal)
        writer.writerow([label, "count"])
        writer.writerows(getattr(data, key).items())
    elif table == "grants":
        cols, rows = grants_csv_rows(request, principal)
        writer.writerow(cols)
        writer.writerows(rows)
    elif (page := _table_page(table)) is not None:
        charts = PAGE_CHARTS[page](request, principal, dict(request.query_params))
        chart = next((c for c in charts if c["id"] == table), None)
        if chart is None:
            return Response(f"no table '{table}'\n", status_code=404, media_type="text/plain")
        cols, cells = _chart_table(chart)
        writer.writerow(cols)
        writer.writerows(cells)
    elif table == "access_log":
        cols, rows = log_csv_rows(request, principal)
        writer.writerow(cols)
        writer.writerows(rows)
    else:
        return Response(f"no table '{table}'\n", status_code=404, media_type="text/plain")
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{table}.csv"'})


@router.post("/dashboard/jobs/grade")
def dashboard_grade_job(request: Request, principal: Principal = Depends(current_principal),
                        chemistry: str = Form("", max_length=40)) -> Response:
    """Start "grade the registry" in the background; the jobs page shows its progress."""
    work = svc.triage_grade_work(engine_of(request), principal, chemistry=chemistry or None)
    job = background.submit_job(request.app.state.jobs, principal, "grade", work, "Grade the registry")
    return RedirectResponse(f"/dashboard/jobs?job={job.job_id}", status_code=303)


@router.post("/dashboard/jobs/import")
async def dashboard_import_job(request: Request, principal: Principal = Depends(current_principal),
                               file: UploadFile = File(...)) -> Response:
    """Import a passport file (CSV, JSON, JSON Lines) in the background."""
    name = Path(file.filename or "upload.jsonl").name
    suffix = "".join(Path(name).suffixes[-1:]).lower()
    if suffix not in (".csv", ".json", ".jsonl", ".ndjson"):
        raise InvalidInput(f"file '{name}': give a .csv, .json or .jsonl file of passports")
    data = await file.read()
    tmp = Path(tempfile.mkdtemp(prefix="circulith-import-")) / f"upload{suffix}"
    tmp.write_bytes(data)
    inner = background.import_passports_work(engine_of(request), principal, tmp)

    def work(progress: Any) -> dict[str, Any]:
        try:
            return inner(progress) | {"file": name}
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)

    job = background.submit_job(request.app.state.jobs, principal, "import", work, f"Import {name}")
    return RedirectResponse(f"/dashboard/jobs?job={job.job_id}", status_code=303)


@router.get("/dashboard-fragment/job/{job_id}", response_class=HTMLResponse)
def job_fragment(request: Request, principal: OptionalPrincipal, job_id: str) -> Response:
    """A job's progress bar, polled by htmx until the job ends."""
    if not principal.authenticated:
        return HTMLResponse("", status_code=401)
    job = background.job_status(request.app.state.jobs, principal, job_id[:64])
    return templates.TemplateResponse(request, "_job.html", {"request": request, "job": job})


@router.get("/dashboard-fragment/ledger-head", response_class=HTMLResponse)
def ledger_head_fragment(request: Request, principal: OptionalPrincipal) -> Response:
    """The ledger head, polled by htmx on the ledger page."""
    if not principal.authenticated:
        return HTMLResponse("", status_code=401)
    head = run(request, fleet_svc.ledger_status, principal, full=False)
    return templates.TemplateResponse(request, "_ledger_head.html", {"request": request, "ledger": head})


def install_web(app: FastAPI) -> None:
    """Mount the static files and the web routes."""
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    from circulith.web.pages_access import router as access_pages

    app.include_router(access_pages)  # before the catch-all /dashboard/{page}
    app.include_router(router)
    app.include_router(public_router)

