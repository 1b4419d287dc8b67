"""``circulith triage``: fit and apply the pulse -> SOH model, grade and regroup retired batteries."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from sqlalchemy import Engine

from circulith.auth.policy import Principal
from circulith.cli.common import acting_principal, console, emit_json, state
from circulith.errors import InvalidInput, Problem
from circulith.services.triage import GradingResult
from circulith.triage import pulse_model
from circulith.triage.readers.read_pulse_tables import read_pulse_tables
from circulith.triage.readers.read_records import read_bms_summary

app = typer.Typer(help="Triage retired batteries: SOH from pulses, grades with reasons, regrouping.",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")]


@app.command()
def fit(tables: Annotated[list[Path], typer.Argument(help="Labelled pulse tables (.xlsx or .csv).")],
        out: Annotated[Path, typer.Option("--out", help="Model file to write (JSON).")],
        folds: Annotated[int, typer.Option(help="Cross-validation folds (by cell); 0 skips.")] = 5,
        base: Annotated[Path | None, typer.Option(
            "--base", help="Recalibrate this transfer model (or 'shipped') on the labelled cells of a new "
                           "format/chemistry instead of fitting a bank.")] = None,
        transfer: Annotated[bool, typer.Option(
            "--transfer", help="Fit a transfer model (estimator chosen by leave-one-format-out).")] = False,
        chemistry: Annotated[str | None, typer.Option(help="Chemistry of the labelled cells (e.g. NMC).")] = None,
        json_: JsonOpt = False) -> None:
    """Train the pulse -> SOH model; the file records data, features, version and CV error."""
    from circulith.cli import triage_model_commands

    table = read_pulse_tables(list(tables))
    names = [p.name for p in tables]
    if base is not None:
        summary = triage_model_commands.recalibrate_file(
            table, None if str(base) == "shipped" else base, out, chemistry=chemistry, sources=names)
        if json_:
            emit_json(summary)
        else:
            console.print(f"wrote {out}: {summary['kind']} for {summary['format']} ({summary['chemistry']}) from "
                          f"{summary['n_cells']} labelled cells; 90 % half-width {summary['half_width_pct']:.1f} points")
            console.print("expected RMSE [SOH points] vs labelled cells: " + ", ".join(
                f"{c['n_labels']}: {c['rmse_soh_pct']:.2f}" for c in summary["expected_rmse_vs_labels"]))
        return
    if transfer:
        summary = triage_model_commands.fit_transfer_file(table, out, chemistry=chemistry or "LFP", folds=folds,
                                                          sources=names)
        if json_:
            emit_json(summary)
        else:
            console.print(f"wrote {out}: transfer model ({summary['estimator']}); 90 % half-width in format "
                          f"{summary['half_width_by_format']}, unseen formats {summary['half_width_unseen_pct']}")
        return
    model = pulse_model.fit(table, n_splits=folds, sources=names)
    pulse_model.save_model(model, out)
    summary = {"model": str(out), "n_submodels": len(model.submodels), **model.metadata}
    if json_:
        emit_json(summary)
    else:
        console.print(f"wrote {out}: {len(model.submodels)} sub-models; CV {model.metadata['cross_validation']}")


@app.command()
def estimate(tables: Annotated[list[Path], typer.Argument(help="Pulse tables (.xlsx or .csv).")],
             model: Annotated[Path | None, typer.Option("--model", help="Model file (default: shipped).")] = None,
             transfer_model: Annotated[Path | None, typer.Option(
                 "--transfer-model", help="Transfer model with the training domain (default: shipped).")] = None,
             domain: Annotated[bool | None, typer.Option(
                 "--domain/--no-domain", help="Check each cell against the training domain and use the transfer "
                                              "model (wider interval) or refuse outside it; default on unless "
                                              "--model is given.")] = None,
             chemistry: Annotated[str | None, typer.Option(help="Chemistry of the cells (e.g. LFP).")] = None,
             stage: Annotated[bool, typer.Option("--stage", help="Add the cheapest next test per cell.")] = False,
             json_: JsonOpt = False) -> None:
    """SOH per cell_id with its interval, combining every row of the cell."""
    from circulith.cli import triage_model_commands

    table = read_pulse_tables(list(tables))
    use_domain = domain if domain is not None else (model is None or transfer_model is not None)
    if not use_domain:
        m = pulse_model.load_model(model) if model else pulse_model.default_model()
        est = pulse_model.estimate(table, m)
        rows = [asdict(e) for e in est]
        if json_:
            emit_json({"model_version": m.metadata.get("version"), "cells": rows})
        else:
            for e in est:
                console.print(f"{e.cell_id}: SOH {e.soh_pct:.1f} % [{e.soh_low_pct:.1f}, {e.soh_high_pct:.1f}]"
                              f" ({e.n_rows_used} rows)")
        return
    rows = triage_model_commands.domain_estimates(table, bank_path=model, transfer_path=transfer_model,
                                                  chemistry=chemistry, stage=stage)
    err = triage_model_commands.all_refused(rows)
    if err is not None:
        raise err
    if json_:
        emit_json({"model_version": pulse_model.MODEL_VERSION, "cells": rows})
        return
    for r in rows:
        nxt = f"; next: {r['next_test'] or 'none (settled)'}" if stage else ""
        if r["status"] == "refused":
            console.print(f"{r['cell_id']}: refused: {r['reason']}{nxt}")
        else:
            console.print(f"{r['cell_id']}: SOH {r['soh_pct']:.1f} % [{r['soh_low_pct']:.1f}, {r['soh_high_pct']:.1f}]"
                          f" ({r['status']}, {r['model']}: {r['reason']}){nxt}")


def _table(path: Path) -> pd.DataFrame:
    """A grade output (JSON ``{"units": [...]}`` or CSV) or any table of units."""
    import json

    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(Problem(None, "", f"not a readable JSON grade output ({exc})"), source=str(path)) from None
        rows = data.get("units", data.get("batteries")) if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise InvalidInput(Problem(None, "units", "expected a list of units"), source=str(path))
        return pd.DataFrame(rows)
    return read_bms_summary(path)


def _engine() -> Engine:
    from circulith.store.database import create_db_engine

    return create_db_engine(state.database_url())


def _print_grades(out: GradingResult) -> None:
    for p in out.packs:
        console.print(f"{p.battery_id}: {p.explanation} [{p.decided_by}: {p.decision}]", highlight=False)
    console.print(f"graded {out.graded_packs} packs ({out.graded_units} units): {out.counts}; "
                  f"{out.events_written} ledger events written", highlight=False)
    s = out.staging
    if s is not None and s.units:
        console.print(f"next tests of the {s.units} units graded on their SOH: {s.settled_by_measurement} settled by "
                      f"measurement, {s.settled_conservatively} settled conservatively at the lower grade (a full "
                      f"test would not pay), {s.cheaper_test_advised} need a pulse step, {s.full_test_advised} a full "
                      f"capacity test ({100 * s.full_test_share:.0f} %)", highlight=False)
    for key, g in out.regroup.items():
        console.print(f"fit for regrouping {key}: {g.groups} second-life packs, {g.usable_energy_kwh} kWh usable, "
                      f"{g.leftovers} leftover modules", highlight=False)


@app.command()
def grade(inputs: Annotated[list[Path] | None, typer.Argument(help="BMS-summary CSV, inspection CSV, pulse tables "
                                                             "(with --from-registry: inspection and pulse files only).")]
          = None,
          application: Annotated[str | None, typer.Option(help="stationary_storage, low_speed_vehicle or ups.")] = None,
          as_of: Annotated[str | None, typer.Option(help="Grading date YYYY-MM-DD (default today).")] = None,
          model: Annotated[Path | None, typer.Option("--model", help="Pulse model (default shipped).")] = None,
          rules: Annotated[Path | None, typer.Option("--rules", help="Rules TOML (default shipped v1).")] = None,
          from_registry: Annotated[bool, typer.Option("--from-registry", help="Grade what you hold in the registry: "
                                                      "by --consignment, --id or filter (default: packs awaiting "
                                                      "evaluation).")] = False,
          consignment: Annotated[str | None, typer.Option("--consignment", help="Grade this received consignment.")]
          = None,
          ids: Annotated[list[str] | None, typer.Option("--id", help="Grade these packs (repeatable).")] = None,
          chemistry: Annotated[str | None, typer.Option(help="--from-registry filter: chemistry code.")] = None,
          custodian: Annotated[str | None, typer.Option(help="--from-registry filter: custodian organisation.")] = None,
          limit: Annotated[int | None, typer.Option(help="--from-registry: grade at most this many packs.")] = None,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="Grade without writing events (registry grading "
                                                "records by default; files only with --record).")] = False,
          record: Annotated[bool, typer.Option("--record", help="Files: record the grades on the registry's passports "
                                               "(every unit must be in the registry).")] = False,
          out: Annotated[Path | None, typer.Option("--out", help="Also write the grade rows (.csv or .json); they feed "
                                                   "triage regroup, recovery price and passport successor.")] = None,
          json_: JsonOpt = False) -> None:
    """Grade every unit (reuse / repurpose / recycle / quarantine) with the rule that decided at each level.

    Grading from the registry (--from-registry, --consignment or --id) records tested and graded events on
    the pack and its modules and cells, unless --dry-run. Grading files records nothing unless --record
    (every unit must then be a registry battery). Acts as circulith --as ORG (default: the registry
    operator), the actor of every recorded event.
    """
    from circulith.services.triage import grade_file_units, grade_registry, write_grades

    day = date.fromisoformat(as_of) if as_of else None
    registry = from_registry or bool(consignment) or bool(ids)
    if registry:
        reg = _engine()
        if inputs and any(p.suffix.lower() == ".csv" and _is_bms(p) for p in inputs):
            raise InvalidInput("give a BMS-summary file or --from-registry, not both (measurement files may be added)")
        result = grade_registry(reg, acting_principal(), consignment_id=consignment,
                                identifiers=list(ids or []) or None, chemistry=chemistry, custodian_org_id=custodian,
                                limit=limit, application=application, as_of=day, measurements=list(inputs or []),
                                model_path=model, record=not dry_run)
    else:
        if not inputs:
            raise InvalidInput("grade needs input files (BMS summary, inspection, pulse tables) or --from-registry")
        engine = _engine() if record and not dry_run else None
        principal = acting_principal() if engine is not None else _nobody()
        result = grade_file_units(engine, principal, list(inputs), application=application, as_of=day,
                                  model_path=model, rules_path=rules, record=engine is not None)
    if out:
        write_grades(result.units, out)
    if json_:
        emit_json(result)
    else:
        _print_grades(result)


def _is_bms(path: Path) -> bool:
    try:
        return "soh_pct" in pd.read_csv(path, nrows=0).columns
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def _nobody() -> Principal:
    """A principal that records nothing (grading files with --dry-run needs no registry)."""
    return Principal()


@app.command("export-bms")
def export_bms(out: Annotated[Path, typer.Option("--out", help="CSV to write (BMS-summary schema).")],
               consignment: Annotated[str | None, typer.Option("--consignment", help="Units of this consignment.")]
               = None,
               ids: Annotated[list[str] | None, typer.Option("--id", help="These packs (repeatable).")] = None,
               chemistry: Annotated[str | None, typer.Option(help="Filter: chemistry code.")] = None,
               custodian: Annotated[str | None, typer.Option(help="Filter: custodian organisation.")] = None,
               limit: Annotated[int | None, typer.Option(help="At most this many packs.")] = None) -> None:
    """Write the BMS summaries the registry holds (packs, modules, cells) as the CSV ``triage grade`` reads."""
    from circulith.services.triage import export_bms as export

    engine = _engine()
    frame = export(engine, acting_principal(), consignment_id=consignment,
                   identifiers=list(ids or []) or None, chemistry=chemistry, custodian_org_id=custodian, limit=limit)
    frame.to_csv(out, index=False)
    console.print(f"wrote {len(frame)} rows to {out}", highlight=False)


@app.command()
def regroup(input_: Annotated[Path, typer.Argument(metavar="INPUT", help="Grade output (.json or .csv) or any table "
                                                  "of modules with battery_id.")],
            application: Annotated[str, typer.Option(help="Application whose limits apply.")] = "stationary_storage",
            units_per_group: Annotated[int, typer.Option(help="Modules in series per group.")] = 4,
            record: Annotated[bool, typer.Option("--record", help="Register each group as a second-life pack with "
                                                 "successor passports of its modules (Art. 77(7)).")] = False,
            no_registry: Annotated[bool, typer.Option("--no-registry", help="Use only the file's figures "
                                                      "(nominal_voltage_v and capacity_ah required).")] = False,
            operator_name: Annotated[str | None, typer.Option("--operator-name", help="Name of the integrator.")]
            = None,
              json_: JsonOpt = False) -> None:
    """Match modules into second-life packs from their passports; report groups, usable energy and leftovers.

    Module voltage and capacity come from the modules' passports (the file's ``nominal_voltage_v``,
    ``capacity_ah`` or ``soh_pct`` override them); a module whose voltage is unknown is refused.
    """
    from circulith.services.regroup import regroup_modules, regroup_table

    units = _table(input_)
    if no_registry:
        if "capacity_ah" not in units:
            if not {"rated_capacity_ah", "soh_pct"} <= set(units.columns):
                raise InvalidInput("needs capacity_ah, or rated_capacity_ah and soh_pct", source=str(input_))
            units["capacity_ah"] = units["rated_capacity_ah"] * units["soh_pct"] / 100.0
        res = regroup_table(units, application=application, units_per_group=units_per_group)
    else:
        engine = _engine()
        res = regroup_modules(engine, acting_principal(), units, application=application,
                              units_per_group=units_per_group, record=record, operator_name=operator_name)
    if json_:
        emit_json(res)
        return
    console.print(f"{len(res.groups)} groups of {units_per_group}, {res.usable_energy_kwh:.2f} kWh usable, "
                  f"{len(res.leftovers)} leftovers" + (f"; {res.passports_registered} passports registered"
                                                       if res.recorded else ""), highlight=False)
    for g in res.groups:
        console.print(f"  {g.group}: {', '.join(g.battery_ids)} -> {g.nominal_voltage_v:g} V, "
                      f"{g.usable_energy_kwh:.2f} kWh" + (f" as {g.successor_battery_id}" if g.successor_battery_id
                                                         else ""), highlight=False)
    by_reason: dict[str, list[str]] = {}
    for x in res.leftover_reasons:
        by_reason.setdefault(x.reason, []).append(x.battery_id)
    for reason, ids in by_reason.items():
        console.print(f"  left over ({len(ids)}), {reason}: {', '.join(ids)}", highlight=False)


@app.command()
def offer(input_: Annotated[Path, typer.Argument(metavar="INPUT", help="Grade output (.json or .csv) or any table "
                                                 "with battery_id (optional stated mass_kg, chemistry, form).")],
          as_of: Annotated[str | None, typer.Option(help="Offer date YYYY-MM-DD (default today).")] = None,
          max_price_age_days: Annotated[int | None, typer.Option(min=0, help="Warn when the newest price is older "
                                                                 "(default 90, offer_checks.toml).")] = None,
          prices: Annotated[Path | None, typer.Option("--prices", help="Current price file (columns of prices.csv) "
                                                      "added to the shipped prices.")] = None,
          logistics_usd_per_kg: Annotated[float, typer.Option(min=0.0, help="Collection and transport [USD/kg].")]
          = 0.0,
          margin: Annotated[float, typer.Option(min=0.0, max=0.99, help="Recycler's margin, fraction of revenue.")]
          = 0.0,
          json_: JsonOpt = False) -> None:
    """Line-by-line recycling offer for the batteries graded recycle or quarantine, handling costs deducted."""
    from circulith.services.offers import load_price_file, recycling_offer

    engine = _engine()
    res = recycling_offer(engine, acting_principal(), _table(input_),
                          as_of=date.fromisoformat(as_of) if as_of else None, max_price_age_days=max_price_age_days,
                          prices=load_price_file(prices) if prices else None,
                          logistics_usd_per_kg=logistics_usd_per_kg, margin_fraction=margin)
    if json_:
        emit_json(res)
        return
    from circulith.cli.offer_output import print_offer

    print_offer(res)
