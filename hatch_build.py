"""Build hook: compiles the ledger's compiled verifier (``circulith.store._ledger_native``).

The extension links the system's SQLite, libpq and OpenSSL (Debian: ``gcc libsqlite3-dev libpq-dev
libssl-dev`` and the Python headers, which ``scripts/system-deps.sh`` installs). Where it cannot be
built the package still installs and ``ledger verify`` runs its Python verifier, which gives the same
report (it is the reference the compiled one is tested against), only slower.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # imported outside a build, for compile_extension alone (scripts/sanitize_native.py)
    BuildHookInterface = object

SOURCE = Path("src/circulith/store/_ledger_native.c")


def _include_dirs() -> list[str]:
    dirs = [sysconfig.get_paths()["include"]]
    pg_config = shutil.which("pg_config")
    if pg_config:
        dirs.append(subprocess.run([pg_config, "--includedir"], capture_output=True, text=True).stdout.strip())
    dirs.append("/usr/include/postgresql")
    return dirs


def compile_extension(root: Path, out: Path, flags: tuple[str, ...] = ("-O2",)) -> str | None:
    """Compile the extension to ``out`` (optimisation and instrumentation ``flags``); None on success, else
    why it could not be built."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not shutil.which(cc[0]):
        return f"no C compiler ({cc[0]})"
    cmd = [*cc, *flags, "-shared", "-fPIC", "-std=c11", "-D_DEFAULT_SOURCE",
           *(f"-I{d}" for d in _include_dirs()), str(root / SOURCE), "-o", str(out), "-lsqlite3", "-lpq", "-lcrypto", "-lpthread"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return (done.stderr or done.stdout).strip().splitlines()[-1] if (done.stderr or done.stdout) else "compiler failed"
    return None


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Compile the extension next to the sources (editable installs) or into the wheel."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if os.environ.get("CIRCULITH_NO_EXTENSION"):
            return
        root = Path(self.root)
        name = "_ledger_native" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
        if version == "editable":
            out = root / SOURCE.parent / name
            why = compile_extension(root, out)
        else:
            out = Path(tempfile.mkdtemp()) / name
            why = compile_extension(root, out)
            if why is None:
                build_data["force_include"][str(out)] = f"circulith/store/{name}"
                build_data["pure_python"] = False
                build_data["infer_tag"] = True
        if why is not None:
            self.app.display_warning(f"circulith: the compiled ledger verifier was not built ({why}); "
                                     "`ledger verify` will use its Python verifier")
