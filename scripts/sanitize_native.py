"""Run the compiled ledger code's equivalence tests on a build instrumented by AddressSanitizer and UBSan.

    .venv/bin/python scripts/sanitize_native.py        (or: make sanitize)

Builds ``circulith.store._ledger_native`` with ``-fsanitize=address,undefined`` in place of the installed
build, starts a throwaway PostgreSQL *without* the sanitizer runtime (``initdb`` does not start under it),
runs ``tests/ledger/test_compiled_verify.py`` and ``tests/ledger/test_compiled_import.py`` on both backends
with the runtime preloaded into Python, and puts the optimised build back. Exit status: pytest's; any
sanitizer report fails the run. Slow (minutes), so not part of ``make test``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hatch_build import compile_extension  # noqa: E402

from circulith.store.throwaway_postgres import ThrowawayPostgres, postgres_bindir  # noqa: E402

TESTS = ["tests/ledger/test_compiled_verify.py", "tests/ledger/test_compiled_import.py"]
SANITIZE = ("-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all")


def _runtime(name: str) -> str:
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(path):
        raise SystemExit(f"the sanitizer runtime {name} is not installed (Debian: gcc's libasan, libubsan)")
    return path


def main() -> int:
    ext = ROOT / "src/circulith/store" / ("_ledger_native" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    preload = f"{_runtime('libasan.so')} {_runtime('libubsan.so')}"
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "optimised.so"
        if ext.exists():
            shutil.copy2(ext, saved)
        why = compile_extension(ROOT, ext, SANITIZE)
        if why is not None:
            raise SystemExit(f"could not build the instrumented extension: {why}")
        bindir = postgres_bindir()
        if bindir is None:
            raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
        server = ThrowawayPostgres(bindir)
        try:
            env = dict(os.environ, CIRCULITH_TEST_POSTGRES_URL=server.start(), LD_PRELOAD=preload,
                       ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
            return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
                                  cwd=ROOT, env=env).returncode
        finally:
            server.stop()
            if saved.exists():
                shutil.copy2(saved, ext)
            else:
                ext.unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(main())
