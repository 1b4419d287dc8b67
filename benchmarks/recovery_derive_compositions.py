"""Derive the shipped cell composition catalogue (``compositions.csv``) from a BatPaC-style cell design.

The design equations follow the pouch-cell model of Argonne's BatPaC (Nelson, Gallagher, Dees et al.,
"Modeling the Performance and Cost of Lithium-Ion Batteries for Electric-Drive Vehicles", ANL-12/55,
2nd ed. 2019): electrode thickness from the areal capacity, electrode porosity and active-material
loading; current collectors, separator, electrolyte filling the pores plus 2 % of the cell volume, and
a laminated pouch. Electrode-level parameters are typical literature values (an engineering assumption,
listed per chemistry below). Run on demand; it rewrites
``src/circulith/reference/data/compositions.csv`` and prints the implied cell specific energy, which
the tests compare with ``chemistries.csv``.

    .venv/bin/python benchmarks/recovery_derive_compositions.py
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/circulith/reference/data/compositions.csv"

LIPF6_G_PER_MOL = 151.905
NAPF6_G_PER_MOL = 167.954


@dataclass(frozen=True)
class Design:
    chemistry: str
    cam_density_g_cm3: float
    cam_capacity_mah_g: float
    voltage_v: float
    anode: str = "graphite"  # graphite | LTO | hard_carbon
    anode_density_g_cm3: float = 2.24
    anode_capacity_mah_g: float = 360.0
    np_ratio: float = 1.25
    anode_collector: str = "Cu"
    salt: str = "LiPF6"
    note: str = ""


DESIGNS = [
    Design("NMC111", 4.70, 155, 3.70, note="NMC111 155 mAh/g, 4.70 g/cm3"),
    Design("NMC532", 4.70, 170, 3.70, note="NMC532 170 mAh/g, 4.70 g/cm3"),
    Design("NMC622", 4.65, 180, 3.75, note="NMC622 180 mAh/g, 4.65 g/cm3"),
    Design("NMC811", 4.75, 200, 3.70, note="NMC811 200 mAh/g, 4.75 g/cm3"),
    Design("NCA", 4.80, 195, 3.70, note="NCA 195 mAh/g, 4.80 g/cm3"),
    Design("LFP", 3.45, 150, 3.30, note="LFP 150 mAh/g, 3.45 g/cm3"),
    Design("LMO", 4.20, 110, 4.00, note="LMO 110 mAh/g, 4.20 g/cm3"),
    Design(
        "LTO", 4.70, 155, 2.40, anode="LTO", anode_density_g_cm3=3.50, anode_capacity_mah_g=160,
        np_ratio=1.10, anode_collector="Al", note="NMC111 cathode; Li4Ti5O12 anode 160 mAh/g, 3.50 g/cm3, Al collector",
    ),
    Design(
        "NaIon", 4.10, 130, 3.10, anode="hard_carbon", anode_density_g_cm3=1.60, anode_capacity_mah_g=300,
        np_ratio=1.15, anode_collector="Al", salt="NaPF6",
        note="NaNi1/3Fe1/3Mn1/3O2 130 mAh/g, 4.10 g/cm3; hard carbon 300 mAh/g, 1.60 g/cm3, Al collector, 1 M NaPF6",
    ),
]


def design(d: Design) -> tuple[dict[str, float], float]:
    """Component masses [g] of one pouch cell and its specific energy [Wh/kg]."""
    pos_ac_wt, pos_cb_wt, pos_bd_wt, pos_poro, areal_mah_cm2 = 0.89, 0.06, 0.05, 0.32, 3.06
    cb_rho, pvdf_rho, al_rho, cu_rho = 1.825, 1.77, 2.70, 8.92
    al_foil_mm, cu_foil_mm = 0.015, 0.010
    neg_ac_wt, neg_bd_wt, neg_bd_rho, neg_poro = 0.95, 0.05, 1.1, 0.34
    ely_rho, sep_rho, pouch_rho, sep_mm, pouch_mm, sep_poro, term_mm = 1.2, 0.46, 2.2, 0.015, 0.15, 0.5, 1.0
    width, aspect, top, neg_ex, sep_ex_l, sep_ex_w, seal, bilayers = 79.0, 3.0, 15.0, 2.0, 6.0, 4.0, 1.0, 63
    den = pos_ac_wt / d.cam_density_g_cm3 + pos_cb_wt / cb_rho + pos_bd_wt / pvdf_rho
    pos_ac_vol = (1 - pos_poro) * (pos_ac_wt / d.cam_density_g_cm3) / den
    pos_rho = d.cam_density_g_cm3 * pos_ac_vol + (1 - pos_poro) * (pos_cb_wt / cb_rho * cb_rho + pos_bd_wt / pvdf_rho * pvdf_rho) / den
    length = width * aspect
    pos_h = 10 * areal_mah_cm2 / (d.cam_density_g_cm3 * pos_ac_vol * d.cam_capacity_mah_g)
    dn = neg_ac_wt / d.anode_density_g_cm3 + neg_bd_wt / neg_bd_rho
    neg_ac_vol = (1 - neg_poro) * (neg_ac_wt / d.anode_density_g_cm3) / dn
    neg_rho = d.anode_density_g_cm3 * neg_ac_vol + (1 - neg_poro) * (neg_bd_wt / dn)
    neg_l, neg_w = length + neg_ex, width + neg_ex
    neg_h = areal_mah_cm2 * d.np_ratio / (d.anode_density_g_cm3 * neg_ac_vol * d.anode_capacity_mah_g) * 10
    coll_rho = cu_rho if d.anode_collector == "Cu" else al_rho
    coll_mm = cu_foil_mm if d.anode_collector == "Cu" else al_foil_mm
    cell_l, cell_w = length + 2 * top, width + 2 * seal
    cell_h = 1.03 * (bilayers * (al_foil_mm + coll_mm + 2 * (pos_h + neg_h + sep_mm)) + 2 * pouch_mm + coll_mm)
    cell_vol = cell_l * cell_w * cell_h
    pos_cc_l, neg_cc_l = length + cell_h + 8, neg_l + cell_h + 8
    term_l, term_w = 2 * cell_h + 10, width - 8
    pouch_l, pouch_w = cell_l - 6, cell_w + 2 * cell_h + 6
    p_area = bilayers * length * width * 2
    n_area = bilayers * neg_l * neg_w * 2
    pcc_area = bilayers * pos_cc_l * width
    ncc_area = bilayers * neg_cc_l * neg_w + neg_cc_l * neg_w
    s_area = bilayers * (length + sep_ex_l) * (width + sep_ex_w) * 2
    ely_cm3 = (p_area * pos_h * pos_poro + n_area * neg_h * neg_poro + s_area * sep_mm * sep_poro + 0.02 * cell_vol) / 1000
    pos_mass = p_area * pos_h * pos_rho / 1000
    neg_mass = n_area * neg_h * neg_rho / 1000
    ely_g = ely_cm3 * ely_rho
    # salt: 1.2 M LiPF6 (BatPaC default electrolyte) or 1.0 M NaPF6 in a 1.2 g/cm3 solution
    salt_frac = (1.2 * LIPF6_G_PER_MOL if d.salt == "LiPF6" else 1.0 * NAPF6_G_PER_MOL) / (ely_rho * 1000)
    pouch_g = 2 * pouch_mm * pouch_l * pouch_w * pouch_rho / 1000
    pos_term = al_rho * term_l * term_w * term_mm / 1000
    neg_term = coll_rho * term_l * term_w * term_mm / 1000
    m = {
        "cathode_active": pos_mass * pos_ac_wt,
        "anode_active": neg_mass * neg_ac_wt,
        "carbon_black": pos_mass * pos_cb_wt,
        "binder": pos_mass * pos_bd_wt + neg_mass * neg_bd_wt,
        "al_foil_tabs": pcc_area * al_foil_mm * al_rho / 1000 + pos_term,
        "cu_foil_tabs": 0.0,
        "separator": s_area * sep_mm / 1000 * sep_rho,
        "electrolyte_salt": ely_g * salt_frac,
        "electrolyte_solvent": ely_g * (1 - salt_frac),
        # pouch laminate ~40 um Al in ~150 um PET/Al/PP: ~47 wt% Al (assumption)
        "casing_al": pouch_g * 0.47,
        "casing_polymer": pouch_g * 0.53,
    }
    neg_coll = ncc_area * coll_mm * coll_rho / 1000 + neg_term
    if d.anode_collector == "Cu":
        m["cu_foil_tabs"] = neg_coll
    else:
        m["al_foil_tabs"] += neg_coll
    total = sum(m.values())
    wh = d.voltage_v * m["cathode_active"] * d.cam_capacity_mah_g / 1000
    return m, wh / total * 1000


def main() -> None:
    rows = []
    for d in DESIGNS:
        m, wh_per_kg = design(d)
        total = sum(m.values())
        src = (
            "Derived: BatPaC pouch-cell design method (Nelson et al., ANL-12/55, 2019), benchmarks/"
            f"recovery_derive_compositions.py; electrode parameters are typical literature values (assumption): {d.note}; "
            f"implied {wh_per_kg:.0f} Wh/kg"
        )
        for comp, g in m.items():
            rows.append({"chemistry": d.chemistry, "level": "cell", "component": comp,
                         "mass_fraction": f"{g / total:.5f}", "unit": "kg/kg cell", "source": src})
        print(f"{d.chemistry:7s} {wh_per_kg:6.0f} Wh/kg  " + " ".join(f"{k}={v / total:.3f}" for k, v in m.items()))
    with OUT.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["chemistry", "level", "component", "mass_fraction", "unit", "source"])
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
