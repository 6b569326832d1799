"""evidence.html in a real browser: headless Debian Chromium shows the numbers of evidence.json.

test_html.py checks the markup the writer emits; this checks the DOM Chromium
builds from it (what a person actually sees), and that a screenshot of a real
bundle is a full-size PNG with something drawn on it.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from reports.screenshot import SCREENSHOT_FILE, find_chromium, run_headless, write_screenshot
from tests.reports.test_html import parse

_no_chromium = pytest.mark.skipif(find_chromium() is None, reason="no chromium binary (Debian package chromium)")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IHDR = struct.Struct(">4sII")  # chunk type, width, height (PNG spec, 11.2.2)


@pytest.fixture
def bundle(finished_real_bundle, tmp_path) -> Path:
    """A private copy of the real mutant run's finished bundle (the screenshot writes into it)."""
    return Path(shutil.copytree(finished_real_bundle, tmp_path / "bundle"))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == _PNG_SIGNATURE, f"{path} is not a PNG"
    kind, width, height = _IHDR.unpack_from(data, 12)
    assert kind == b"IHDR"
    return width, height


@pytest.mark.tools
@_no_chromium
def test_chromium_shows_the_summary_numbers_of_evidence_json(bundle):
    evidence = json.loads((bundle / "evidence.json").read_text())
    dom = parse(run_headless(find_chromium(), bundle / "evidence.html", "--dump-dom"))
    verdicts = [r["verdict"] for r in evidence["requirements"].values()]
    shown = {key: int(dom.find(id=f"count-{key}").text())
             for key in ("passed", "failed", "not-applicable", "findings", "errors")}
    assert shown == {"passed": verdicts.count("passed"), "failed": verdicts.count("failed"),
                     "not-applicable": verdicts.count("not-applicable"),
                     "findings": len(evidence["findings"]), "errors": len(evidence["errors"])}
    assert shown["failed"] >= 1 and shown["findings"] >= 1  # the mutant run found its bug
    for rid, entry in evidence["requirements"].items():
        cells = dom.find(id=f"req-{rid}").cells()
        assert cells["verdict"] == entry["verdict"], rid
        if entry["verdict"] != "not-applicable":
            assert {k: int(cells[k]) for k in ("examples", "steps", "operations", "findings")} == \
                {k: entry[k] for k in ("examples", "steps", "operations", "findings")}, rid
    first = evidence["findings"][0]
    assert dom.find(id="finding-1").find(tag="pre").text() == "\n".join(first["steps"])


@pytest.mark.tools
@_no_chromium
def test_the_screenshot_is_a_full_window_png_with_the_page_drawn(bundle, tmp_path):
    path = write_screenshot(bundle)
    assert path == bundle / SCREENSHOT_FILE
    assert png_size(path) == (1280, 2000)
    assert not list(bundle.glob(".*.png")), "no partial file is left behind"
    # A blank page of the same size compresses to almost nothing; the evidence page does not.
    blank = tmp_path / "blank"
    blank.mkdir()
    (blank / "evidence.html").write_text("<!DOCTYPE html><html><body></body></html>")
    assert png_size(write_screenshot(blank)) == (1280, 2000)
    assert path.stat().st_size > 5 * (blank / SCREENSHOT_FILE).stat().st_size


def test_no_chromium_means_no_screenshot(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CHROMIUM", raising=False)
    (tmp_path / "evidence.html").write_text("<!DOCTYPE html><html><body></body></html>")
    assert write_screenshot(tmp_path) is None
    assert not (tmp_path / SCREENSHOT_FILE).exists()
