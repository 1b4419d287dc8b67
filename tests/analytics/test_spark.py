"""The same Ibis expressions on a local Spark session give the DuckDB answers (needs pyspark and Java)."""

from __future__ import annotations

import importlib.util
import shutil

import pandas as pd
import pytest

from circulith import analytics as A
from circulith.planning.lifetime import fit_weibull_censored

from .conftest import AS_OF

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore:The 'future.infer_string' option")]  # fmt: skip


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'circulith[spark]')"
    if shutil.which("java") is None:
        return "no Java runtime on PATH (Spark needs one, e.g. OpenJDK 17)"
    return None


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype.kind in "iuf":
            out[c] = out[c].astype(float)
        else:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.reset_index(drop=True)


@pytest.mark.slow
def test_same_expressions_on_spark(registry, tmp_path):
    why = _spark_missing()
    if why:
        pytest.skip(why)
    A.export_parquet(registry.url, tmp_path)
    duck = A.connect(tmp_path)
    spark = A.connect(tmp_path, backend="spark")
    try:
        for fn in (A.cohorts, A.national_totals, A.retirement_events_per_year, A.inventory):
            pd.testing.assert_frame_equal(_norm(fn(spark)), _norm(fn(duck)), check_exact=False, rtol=1e-9,
                                          obj=fn.__name__)  # fmt: skip
        from circulith.analytics import national as N

        for name, fn2 in (("inventory_by_status DE", lambda c: N.inventory_by_status(c, ["DE"])),
                          ("inventory_by_status all", lambda c: N.inventory_by_status(c, None)),
                          ("custody_moves", N.custody_moves),
                          ("retirements_per_year DE", lambda c: N.retirements_per_year(c, ["DE"]))):
            pd.testing.assert_frame_equal(_norm(fn2(spark)), _norm(fn2(duck)), check_exact=False, rtol=1e-9,
                                          obj=name)  # fmt: skip
        r_spark = A.observed_retirements(spark, as_of=AS_OF)
        r_duck = A.observed_retirements(duck, as_of=AS_OF)
        pd.testing.assert_frame_equal(_norm(r_spark), _norm(r_duck), check_exact=False, rtol=1e-9)
        f_spark = fit_weibull_censored(r_spark["duration_years"], r_spark["observed"])
        f_duck = fit_weibull_censored(r_duck["duration_years"], r_duck["observed"])
        assert f_spark.shape == pytest.approx(f_duck.shape, rel=1e-6)  # optimiser tolerance
    finally:
        spark._session.stop()
