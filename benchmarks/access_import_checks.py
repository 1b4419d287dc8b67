"""Cost of the write checks in ``import events``: the checked import against the unchecked one, same run.

The baseline is the import path as it was before the checks (``services.registry.import_events``:
parse, state machine, chain); ours adds strict JSON reading, payload checks and the write policy
per row (``services.event_import.import_events``). Both import the same demo histories into fresh
SQLite databases with the demo organisations registered, alternately, best of ``--repeat``.

Usage: ``python benchmarks/access_import_checks.py --packs 1500 --repeat 2``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from circulith.demo.fleet import ORGANISATIONS, generate_fleet
from circulith.services import event_import, registry
from circulith.store.database import create_db_engine, transaction, upgrade
from circulith.store.registry import ensure_organisations, register_passports


def _fresh(root: Path, name: str, passports: list) -> object:
    engine = create_db_engine(f"sqlite:///{root / name}")
    upgrade(engine)
    with transaction(engine) as s:
        ensure_organisations(s, ORGANISATIONS)
        by_maker: dict[str, list] = {}
        for p in passports:
            by_maker.setdefault(p.manufacturer.id, []).append(p)
        for maker, part in by_maker.items():
            register_passports(s, part, actor_org_id=maker)
    return engine


def main() -> None:
    """Run the comparison and print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--packs", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    fleet = generate_fleet(args.packs, seed=7, today=dt.date(2026, 11, 1))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "events.jsonl"
        path.write_text("".join(json.dumps(e.model_dump(mode="json", exclude={"event_id"})) + "\n"
                                for e in fleet.events))
        best = {"unchecked": float("inf"), "checked": float("inf")}
        for i in range(args.repeat):
            for label, fn in (("unchecked", registry.import_events), ("checked", event_import.import_events)):
                engine = _fresh(root, f"{label}{i}.db", fleet.passports)
                t0 = time.perf_counter()
                report = fn(engine, path)  # type: ignore[operator]
                best[label] = min(best[label], time.perf_counter() - t0)
                assert report.rejected == 0, report.problems[:3]
                engine.dispose()  # type: ignore[attr-defined]
        n = len(fleet.events)
        for label, s in best.items():
            print(f"{label}: {n} events in {s:.2f} s ({n / s:,.0f} events/s)")
        print(f"checked / unchecked throughput: {best['unchecked'] / best['checked']:.1%}")


if __name__ == "__main__":
    main()
