"""``evidence.png``: evidence.html as headless Chromium draws it, for the bundle when asked.

A picture of the page lets a reviewer see the verdicts without opening files,
and proves the page renders in a real browser.  Chromium runs with a
throw-away profile and every background service off, so it fetches nothing
(the page's Content-Security-Policy forbids fetches anyway).  The screenshot
must be written before the manifest is signed, or verify-evidence reports it
as an added file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from harness.errors import UsageError
from reports.html import HTML_FILE

SCREENSHOT_FILE = "evidence.png"
BROWSERS = ("chromium", "chromium-browser")  # Debian's package, then other distributions' name
WINDOW = "1280,2000"
TIMEOUT = 60.0  # seconds for one headless render, start-up included
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--hide-scrollbars")


def find_chromium() -> str | None:
    """``$CHROMIUM`` if set, else the first Chromium on PATH; None when there is none."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def run_headless(browser: str, page: Path, *args: str, timeout: float = TIMEOUT) -> str:
    """Run headless ``browser`` on the local file ``page`` with ``args``; returns its stdout.

    Chromium starts helper processes, so it runs in its own session and the
    whole group is killed on a timeout; a timeout or a failure is a UsageError
    (an environment problem, not a finding about the TPM).
    """
    with tempfile.TemporaryDirectory(prefix="vtpm-chromium-") as profile:
        proc = subprocess.Popen([browser, *_FLAGS, f"--user-data-dir={profile}", *args,
                                 Path(page).resolve().as_uri()],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise UsageError(f"{browser} did not finish rendering {page} in {timeout:.0f}s") from None
    if proc.returncode != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"{browser} failed on {page} (exit {proc.returncode}): {last}")
    return out.decode(errors="replace")


def write_screenshot(directory: Path, browser: str | None = None) -> Path | None:
    """Draw ``directory/evidence.html`` into ``directory/evidence.png``; None when no Chromium exists."""
    browser = browser or find_chromium()
    if browser is None:
        return None
    directory = Path(directory)
    path = directory / SCREENSHOT_FILE
    partial = directory / ".evidence.partial.png"  # renamed into place: never half a PNG
    partial.unlink(missing_ok=True)
    try:
        run_headless(browser, directory / HTML_FILE, f"--screenshot={partial}", f"--window-size={WINDOW}")
        if not partial.is_file() or partial.stat().st_size == 0:
            raise UsageError(f"{browser} wrote no screenshot of {directory / HTML_FILE}")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
