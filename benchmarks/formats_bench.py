"""Passport formats: import and export of N passports per format, against ``json.loads`` alone (short).

For each format, N documents (the shared example of the format, with a distinct passport and battery
identifier each) are serialised once. Timed in the same run: ``json.loads`` of every document (the
baseline), import (``json.loads`` + schema validation + mapping + passport validation), and export of
the imported passports (mapping back + schema validation). Usage::

    PYTHONPATH=src:. python benchmarks/formats_bench.py [--n 2000] [--n-aas 100]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.formats.conftest import read_catenax_example, read_example, read_idta_examples

from circulith.passport.formats.aas import export_aas, read_aas
from circulith.passport.formats.batterypass import export_batterypass
from circulith.passport.formats.batterypass.importing import read_batterypass
from circulith.passport.formats.catenax import export_catenax, read_catenax


def _docs_batterypass(n: int) -> list[str]:
    base = read_example()
    out = []
    for i in range(n):
        d = copy.deepcopy(base)
        d["GeneralProductInformation"]["productIdentifier"] = f"SN-{i:07d}"
        d["GeneralProductInformation"]["batteryPassportIdentifier"] = f"urn:bmwk:{i:012d}"
        out.append(json.dumps(d))
    return out


def _docs_catenax(n: int) -> list[str]:
    base = read_catenax_example()
    out = []
    for i in range(n):
        d = copy.deepcopy(base)
        d["metadata"]["passportIdentifier"] = f"urn:uuid:{uuid.UUID(int=i + 1)}"
        d["identification"]["identification"]["serial"][0]["value"] = f"SN-{i:07d}"
        out.append(json.dumps(d))
    return out


def _docs_aas(n: int) -> list[str]:
    base = read_idta_examples()
    out = []
    for i in range(n):
        d = copy.deepcopy(base)
        d["assetAdministrationShells"][0]["id"] = f"urn:uuid:{uuid.UUID(int=i + 1)}"
        nameplate = next(s for s in d["submodels"] if s["idShort"] == "BatteryNameplate")
        next(e for e in nameplate["submodelElements"] if e["idShort"] == "SerialNumber")["value"] = f"SN-{i:07d}"
        out.append(json.dumps(d))
    return out


def _bench(name: str, texts: list[str], read: Callable[..., Any], write: Callable[..., Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    for t in texts:
        json.loads(t)
    t1 = time.perf_counter()
    passports = [read(json.loads(t)).passport for t in texts]
    t2 = time.perf_counter()
    for p in passports:
        write(p)
    t3 = time.perf_counter()
    n = len(texts)
    row = {"format": name, "n": n, "kb_per_doc": sum(map(len, texts)) / n / 1024,
           "loads_per_s": n / (t1 - t0), "import_per_s": n / (t2 - t1), "export_per_s": n / (t3 - t2),
           "import_ratio": (t2 - t1) / (t1 - t0), "export_ratio": (t3 - t2) / (t1 - t0)}
    print(f"{name:12s} N={n:6d} {row['kb_per_doc']:6.1f} KiB/doc  json.loads {row['loads_per_s']:9.0f}/s  "
          f"import {row['import_per_s']:7.0f}/s ({row['import_ratio']:5.0f}x loads)  "
          f"export {row['export_per_s']:7.0f}/s ({row['export_ratio']:5.0f}x loads)", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="documents per JSON format")
    ap.add_argument("--n-aas", type=int, default=100, help="AAS environments (about 0.7 MiB each)")
    args = ap.parse_args()
    _bench("batterypass", _docs_batterypass(args.n), read_batterypass, export_batterypass)
    _bench("catenax", _docs_catenax(args.n), read_catenax, export_catenax)
    _bench("aas", _docs_aas(args.n_aas), read_aas, export_aas)


if __name__ == "__main__":
    main()
