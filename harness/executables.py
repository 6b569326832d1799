"""Where the external programs the harness starts come from: option, environment, PATH."""

from __future__ import annotations

import os
import shutil

from harness.errors import UsageError


def find_executable(given: str | None, env_var: str, default: str, option: str, package: str) -> str:
    """``given`` (from ``option``), else ``$env_var``, else ``default`` on PATH, as an absolute
    path; a UsageError naming where the name came from and what to install otherwise."""
    candidate = given or os.environ.get(env_var) or default
    found = shutil.which(candidate)
    if found is None:
        source = option if given else f"${env_var}" if os.environ.get(env_var) else "PATH"
        raise UsageError(f"{default} binary {candidate!r} (from {source}) is not an executable file; "
                         f"install {package} or pass {option} PATH")
    return os.path.abspath(found)
