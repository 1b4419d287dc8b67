"""``circulith triage``: fit and apply the pulse -> SOH model, grade and regroup retired batteries."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from circulith.cli.common import console, emit_json
from circulith.errors import InvalidInput, Problem
from circulith.reference.chemistries import chemistry_table
from circulith.triage import pulse_model
from circulith.triage.grading import aggregate_parents, grade_frame
from circulith.triage.readers.read_pulse_tables import read_pulse_tables
from circulith.triage.readers.read_records import merge_inspection, read_bms_summary, read_inspection
from circulith.triage.regroup import regroup as regroup_units
from circulith.triage.rules import load_rules

app = typer.Typer(help="Triage retired batteries: SOH from pulses, grades with reasons, regrouping.",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Write JSON to standard output.")]


def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.replace({np.nan: None}).to_dict(orient="records")


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


def _classify(path: Path) -> str:
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return "pulse"
    head = pd.read_parquet(path).head(0) if path.suffix.lower() == ".parquet" else pd.read_csv(path, nrows=0)
    cols = set(head.columns)
    if "U1" in cols and "cell_id" in cols:
        return "pulse"
    if "soh_pct" in cols:
        return "bms"
    if "battery_id" in cols:
        return "inspection"
    raise InvalidInput("not a BMS summary (battery_id, soh_pct...), inspection (battery_id, swelling...) "
                       "or pulse table (cell_id, U1...)", source=str(path))


def grade_inputs(paths: list[Path], *, application: str | None = None, as_of: date | None = None,
                 model_path: Path | None = None, rules_path: Path | None = None) -> dict:
    """Read BMS summaries, inspection records and pulse tables; grade; aggregate parents.

    Pulse-table estimates replace ``soh_pct`` / interval of the battery whose ``battery_id`` equals
    the ``cell_id`` (``soh_source = 'pulse'``).
    """
    kinds = {p: _classify(p) for p in paths}
    bms = [read_bms_summary(p) for p, k in kinds.items() if k == "bms"]
    if not bms:
        raise InvalidInput("grade needs at least one BMS-summary file (battery_id, soh_pct, ...)")
    frame = pd.concat(bms, ignore_index=True)
    for p, k in kinds.items():
        if k == "inspection":
            frame = merge_inspection(frame, read_inspection(p))
    pulse_paths = [p for p, k in kinds.items() if k == "pulse"]
    if pulse_paths:
        m = pulse_model.load_model(model_path) if model_path else pulse_model.default_model()
        est = pd.DataFrame([asdict(e) for e in pulse_model.estimate(read_pulse_tables(pulse_paths), m)])
        unknown = set(est["cell_id"]) - set(frame["battery_id"])
        if unknown:
            raise InvalidInput([Problem(None, "cell_id", "pulse estimate for a battery not in the BMS summary", c)
                                for c in sorted(unknown)[:20]])
        est = est.set_index("cell_id")
        hit = frame["battery_id"].isin(est.index)
        ids = frame.loc[hit, "battery_id"]
        for col in ["soh_pct", "soh_low_pct", "soh_high_pct"]:
            if col not in frame:
                frame[col] = np.nan
            frame.loc[hit, col] = est.loc[ids, col].to_numpy()
        frame["soh_source"] = frame.get("soh_source", pd.Series("bms", index=frame.index)).astype(object)
        frame.loc[hit, "soh_source"] = "pulse"
    rules = load_rules(rules_path)
    results = grade_frame(frame, application=application, rules=rules, as_of=as_of)
    parents = aggregate_parents(results)
    counts = results["grade"].value_counts().to_dict()
    return {"rules_version": rules["version"], "counts": counts, "batteries": _records(results),
            "parents": _records(parents)}


@app.command()
def grade(inputs: Annotated[list[Path] | None, typer.Argument(help="BMS-summary CSV, inspection CSV, pulse tables.")]
          = None,
          application: Annotated[str | None, typer.Option(help="stationary_storage, low_speed_vehicle or ups.")] = None,
          as_of: Annotated[str | None, typer.Option(help="Grading date YYYY-MM-DD (default today).")] = None,
          model: Annotated[Path | None, typer.Option("--model", help="Pulse model (default shipped).")] = None,
          rules: Annotated[Path | None, typer.Option("--rules", help="Rules TOML (default shipped v1).")] = None,
          from_registry: Annotated[bool, typer.Option("--from-registry", help="Grade the registry's packs awaiting "
                                                      "evaluation (removed or collected) and record the results.")]
          = False,
          chemistry: Annotated[str | None, typer.Option(help="--from-registry filter: chemistry code.")] = None,
          custodian: Annotated[str | None, typer.Option(help="--from-registry filter: custodian organisation.")] = None,
          limit: Annotated[int | None, typer.Option(help="--from-registry: grade at most this many packs.")] = None,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="--from-registry: grade without writing events.")]
          = False,
          json_: JsonOpt = False) -> None:
    """Grade every battery (reuse / repurpose / recycle / quarantine) with its explanation."""
    day = date.fromisoformat(as_of) if as_of else None
    if from_registry:
        if inputs:
            raise InvalidInput("give input files or --from-registry, not both")
        _grade_registry(application=application, as_of=day, chemistry=chemistry, custodian=custodian, limit=limit,
                        record=not dry_run, json_=json_)
        return
    if not inputs:
        raise InvalidInput("grade needs input files (BMS summary, inspection, pulse tables) or --from-registry")
    out = grade_inputs(list(inputs), application=application, as_of=day, model_path=model, rules_path=rules)
    if json_:
        emit_json(out)
        return
    for b in out["batteries"]:
        console.print(f"{b['battery_id']}: {b['explanation']}", highlight=False)
    for p in out["parents"]:
        console.print(f"{p['battery_id']} (parent): {p['explanation']}", highlight=False)


def _grade_registry(*, application: str | None, as_of: date | None, chemistry: str | None, custodian: str | None,
                    limit: int | None, record: bool, json_: bool) -> None:
    from circulith.cli.common import state
    from circulith.services.triage import grade_registry
    from circulith.store.database import create_db_engine

    out = grade_registry(create_db_engine(state.database_url()), application=application, as_of=as_of,
                         chemistry=chemistry, custodian_org_id=custodian, limit=limit, record=record)
    if json_:
        emit_json(out)
        return
    for p in out["packs"]:
        console.print(f"{p['battery_id']}: {p['explanation']}", highlight=False)
    console.print(f"graded {out['graded_packs']} packs: {out['counts']}; {out['events_written']} ledger events written")
    for key, g in out["regroup"].items():
        console.print(f"regrouped {key}: {g['groups']} second-life packs, {g['usable_energy_kwh']} kWh usable, "
                      f"{g['leftovers']} leftover modules")


@app.command()
def regroup(input_: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV of units (graded or BMS summary).")],
            application: Annotated[str, typer.Option(help="Application whose limits apply.")] = "stationary_storage",
            units_per_group: Annotated[int, typer.Option(help="Units in series per group.")] = 4,
            json_: JsonOpt = False) -> None:
    """Match units into second-life groups; report groups, usable energy and leftovers.

    INPUT needs ``battery_id`` and either ``capacity_ah`` or ``rated_capacity_ah`` + ``soh_pct``;
    ``nominal_voltage_v`` or ``chemistry``; optional ``resistance_ohm`` and ``grade``.
    """
    units = read_bms_summary(input_)
    if "capacity_ah" not in units:
        if not {"rated_capacity_ah", "soh_pct"} <= set(units.columns):
            raise InvalidInput("needs capacity_ah, or rated_capacity_ah and soh_pct", source=str(input_))
        units["capacity_ah"] = units["rated_capacity_ah"] * units["soh_pct"] / 100.0
    if "nominal_voltage_v" not in units:
        if "chemistry" not in units:
            raise InvalidInput("needs nominal_voltage_v or chemistry", source=str(input_))
        chem = chemistry_table()["cell_nominal_voltage_v"]
        units["nominal_voltage_v"] = units["chemistry"].map(chem)
        if units["nominal_voltage_v"].isna().any():
            raise InvalidInput("unknown chemistry code", source=str(input_))
    res = regroup_units(units, application=application, units_per_group=units_per_group)
    out = {"application": res.application, "groups": res.groups, "leftovers": res.leftovers,
           "usable_energy_kwh": res.usable_energy_kwh}
    if json_:
        emit_json(out)
    else:
        console.print(f"{len(res.groups)} groups, {res.usable_energy_kwh:.2f} kWh usable, "
                      f"{len(res.leftovers)} leftovers")
