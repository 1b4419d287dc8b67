"""Recovery and compliance commands act as the one global principal (``circulith --as ORG``).

No command names its own organisation any more: the global option (or ``CIRCULITH_AS``) decides, the
registry operator when neither is set, and the same access rules as the API's apply. A calculation on the
user's own figures needs no database unless an organisation is named.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from tests.api.scenario import PLANT

from api.scenario import Scenario
from circulith.cli.main import run as cli
from circulith.recovery.lots import InputLot, LotItem
from circulith.store.database import transaction
from circulith.store.lot_models import PlantLot

Registry = tuple[FastAPI, Engine, Scenario]


def _run(capsys: pytest.CaptureFixture[str], db: str, *args: str) -> tuple[int, str, str]:
    code = cli(["--db", db, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _url(registry: Registry) -> str:
    return registry[1].url.render_as_string(hide_password=False)


def _lots(engine: Engine) -> int:
    with transaction(engine) as s:
        return s.execute(select(func.count()).select_from(PlantLot)).scalar_one()


def test_a_calculation_needs_no_database_unless_an_organisation_is_named(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, registry: Registry) -> None:
    missing = tmp_path / "none.db"
    args = ("recovery", "run", "--chemistry", "NMC622", "--route", "hydro", "--date", "2023-06-30", "--json")
    code, out, err = _run(capsys, f"sqlite:///{missing}", *args)
    assert code == 0, err
    assert json.loads(out)["price_date"] == "2023-06-30" and not missing.exists()
    # named: looked up in the registry like any command's --as; an unknown organisation is refused
    code, out, _ = _run(capsys, _url(registry), "--as", "REC-HYDROLUX", *args)
    assert code == 0 and json.loads(out)["price_date"] == "2023-06-30"
    code, _, err = _run(capsys, _url(registry), "--as", "NO-SUCH-ORG", *args)
    assert code == 2 and "NO-SUCH-ORG" in err


def test_lot_commands_obey_the_global_principal(capsys: pytest.CaptureFixture[str], registry: Registry,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    db = _url(registry)
    # the operator (no --as) reads every lot; another recycler is told the lot does not exist for it
    assert _run(capsys, db, "recovery", "lot", "show", "IN-HYDROLUX-1", "--json")[0] == 0
    code, _, err = _run(capsys, db, "--as", "DIS-KREIS", "recovery", "lot", "show", "IN-HYDROLUX-1")
    assert code == 2 and "IN-HYDROLUX-1" in err
    monkeypatch.setenv("CIRCULITH_AS", "DIS-KREIS")  # the environment's organisation likewise
    code, _, err = _run(capsys, db, "recovery", "lot", "show", "IN-HYDROLUX-1")
    assert code == 2 and "IN-HYDROLUX-1" in err
    code, out, err = _run(capsys, db, "--as", "REC-HYDROLUX", "recovery", "lot", "show", "IN-HYDROLUX-1", "--json")
    assert code == 0, err  # the global option before the environment: the lot's own recycler
    monkeypatch.delenv("CIRCULITH_AS")
    # the local --org option is gone: the principal is the global one
    assert _run(capsys, db, "recovery", "lot", "show", "IN-HYDROLUX-1", "--org", "REC-HYDROLUX")[0] == 2


def test_recording_needs_the_plants_organisation(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 registry: Registry, scenario: Scenario) -> None:
    engine = registry[1]
    lot = InputLot(lot_id="IN-NOT-MINE", plant_id=PLANT, received_on="2026-01-05",
                   items=[LotItem(battery_id="B-UNKNOWN", chemistry="NMC622", form="pack", mass_kg=400.0)])
    f = tmp_path / "lots.json"
    f.write_text(json.dumps([lot.to_payload()], default=str), encoding="utf-8")
    n = _lots(engine)
    for who, org in (([], "ORG-REGISTRY"), (["--as", "DIS-KREIS"], "DIS-KREIS")):  # not the plant's owner
        code, _, err = _run(capsys, _url(registry), *who, "recovery", "lot", "record", str(f))
        assert code == 2 and f"organisation '{org}'" in err and "Traceback" not in err, err
        assert _lots(engine) == n


def test_compliance_report_as_the_plant_an_authority_or_the_operator(capsys: pytest.CaptureFixture[str],
                                                                     registry: Registry) -> None:
    db = _url(registry)
    with transaction(registry[1]) as s:
        year = min(lot.lot.received_on.year for lot in _input_lots(s))
    for org in ("REC-HYDROLUX", "MSA-DE"):
        code, out, err = _run(capsys, db, "--as", org, "compliance", "report", "--plant", PLANT, "--year", str(year),
                              "--json")
        assert code == 0, err
        assert json.loads(out)["plant_id"] == PLANT
    # the registry operator is not a compliance reader (as through the API): refused, one line, exit 2
    code, _, err = _run(capsys, db, "compliance", "report", "--plant", PLANT, "--year", str(year))
    assert code == 2 and "may report on" in err and "Traceback" not in err


def _input_lots(session: object) -> list:
    from circulith.store.lot_repo import plant_lots

    return [s for s in plant_lots(session, PLANT) if isinstance(s.lot, InputLot)]  # type: ignore[arg-type]


def test_a_traceability_upload_is_recorded_as_the_reporting_operator(capsys: pytest.CaptureFixture[str],
                                                                     registry: Registry) -> None:
    db = _url(registry)
    with transaction(registry[1]) as s:
        year = min(lot.lot.received_on.year for lot in _input_lots(s))
    code, out, err = _run(capsys, db, "--as", "REC-HYDROLUX", "compliance", "traceability", "--year", str(year),
                          "--json")
    assert code == 0, err
    own = [e["event_id"] for e in json.loads(out)["events"] if e["actor_org_id"] == "REC-HYDROLUX"]
    assert own, "the scenario's recycler records traceability events"
    args = ("compliance", "traceability-submit", "--on", dt.date.today().isoformat(), "--events", own[0], "--json")
    code, _, err = _run(capsys, db, "--as", "DIS-KREIS", *args)  # not its event
    assert code == 2 and own[0] in err
    code, out, err = _run(capsys, db, "--as", "REC-HYDROLUX", *args)
    assert code == 0, err
    assert json.loads(out)["events"] == 1


def test_an_allocation_is_recorded_by_the_lots_holder(capsys: pytest.CaptureFixture[str], registry: Registry) -> None:
    from circulith.recovery.lots import ProductLot

    db = _url(registry)
    with transaction(registry[1]) as s:
        from circulith.store.lot_repo import plant_lots

        lot, el = next((x.lot, el) for x in plant_lots(s, PLANT) if isinstance(x.lot, ProductLot)
                       for el in ("Ni", "Co", "Li") if x.lot.element_kg().get(el, 0.0) > 1.0)
    args = ("compliance", "allocate", "--lot", lot.lot_id, "--element", f"{el}=0.5", "--batch", "B-CLI-1",
            "--batch-content", f"{el}=100", "--json")
    code, _, err = _run(capsys, db, "--as", "DIS-KREIS", *args)  # not its lot
    assert code == 2 and "Traceback" not in err
    code, out, err = _run(capsys, db, "--as", "REC-HYDROLUX", *args)
    assert code == 0, err
    assert json.loads(out)["lines"][0]["kg"] == pytest.approx(0.5)
    # the shares of the batch, read as the registry operator (the default principal)
    code, out, err = _run(capsys, db, "compliance", "recycled-content-of", "B-CLI-1", "--json")
    assert code == 0, err
    assert json.loads(out)["target_id"] == "B-CLI-1"
