"""The web page in a real browser: Debian's chromium driven by playwright (no browser download).

Needs ``/usr/bin/chromium`` (``apt-get install chromium``) and ``pip install playwright``; the test
fails without them rather than skipping, unless ``DETECTKIT_SKIP_BROWSER=1`` says so on purpose.
Screenshots go to ``$DETECTKIT_TEST_ARTIFACTS`` (default: the test's temporary folder); with
``DETECTKIT_UPDATE_DOCS_IMAGES=1`` they also replace ``docs/images/serve_page*.jpg``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serve.helpers import ROOT, Server, bus_path

CHROMIUM = os.environ.get("DETECTKIT_CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.slow

if os.environ.get("DETECTKIT_SKIP_BROWSER") == "1":
    pytest.skip("DETECTKIT_SKIP_BROWSER=1", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (or set DETECTKIT_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("DETECTKIT_TEST_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _keep(shot: Path) -> None:
    if os.environ.get("DETECTKIT_UPDATE_DOCS_IMAGES") == "1":  # as a JPEG, a fifth of the PNG's bytes
        import cv2

        cv2.imwrite(
            str(ROOT / "docs" / "images" / f"{shot.stem}.jpg"), cv2.imread(str(shot)), [cv2.IMWRITE_JPEG_QUALITY, 85]
        )


def _table_rows(page: Any) -> list[list[str]]:
    return page.eval_on_selector_all(
        "section.result table.detections tbody tr[data-box]",
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))",
    )


def test_page_detects_bus_like_the_api(server: Server, browser: Any, artifacts: Path) -> None:
    bus = bus_path()
    api = httpx.post(server.url + "/v1/detect", params={"conf": 0.25}, files={"file": ("bus.jpg", bus.read_bytes())})
    expected = api.json()
    top = httpx.post(server.url + "/v1/classify", params={"top_k": 5}, files={"file": ("bus.jpg", bus.read_bytes())})
    assert len(expected["xyxy"]) > 0

    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.set_default_timeout(120_000)  # a loaded CI machine: model calls can take seconds
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((server.url, "blob:", "data:")) else outside.append(r.url))
    page.goto(server.url + "/")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('ready')", timeout=60_000)

    # keyboard: Enter on the focused drop zone opens the file chooser (clicks the hidden input).
    # Headless Chromium's "filechooser" event proved flaky under load (no event within 120 s,
    # twice in full runs), so the test checks the click the key causes, then sets the file.
    page.evaluate("document.getElementById('files').addEventListener('click', () => { window.__chooser = true; })")
    page.focus("#drop")
    page.keyboard.press("Enter")
    page.wait_for_function("window.__chooser === true", timeout=30_000)
    page.set_input_files("#files", str(bus))
    page.wait_for_selector("section.result[data-state=done]", timeout=120_000)

    rects = page.locator("section.result svg rect.box")
    assert rects.count() == len(expected["xyxy"])
    rows = _table_rows(page)
    assert len(rows) == len(expected["xyxy"])
    for i, row in enumerate(rows):
        assert row[1] == expected["labels"][i]
        assert row[2] == f"{expected['confidence'][i]:.3f}"
        assert [float(v) for v in row[3:7]] == pytest.approx(expected["xyxy"][i], abs=0.051)
    # the boxes sit where the API put them, in image pixels
    for i in range(len(rects.all())):
        r = rects.nth(i)
        got = [float(r.get_attribute(k)) for k in ("x", "y", "width", "height")]
        x1, y1, x2, y2 = expected["xyxy"][i]
        assert got == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=1e-3)
    # classifier top-k as the API gives it
    topk = page.eval_on_selector_all("ol.topk li", "items => items.map(li => li.textContent)")
    assert [t.split(" ")[0] for t in topk] == [lab.split(" ")[0] for lab in top.json()["labels"]]

    # hover shows label and score; keyboard focus on a box does too
    from playwright.sync_api import expect

    rects.nth(0).hover()
    tip = page.locator("section.result .tip")
    expect(tip).to_be_visible()
    expect(tip).to_have_text(f"{expected['labels'][0]} {expected['confidence'][0]:.3f}")
    page.mouse.move(5, 5)
    expect(tip).to_be_hidden()
    rects.nth(0).focus()
    expect(tip).to_be_visible()
    expect(page.locator("tr[data-box='0']")).to_have_class("active")

    shot = artifacts / "serve_page.png"
    page.screenshot(path=str(shot), full_page=True)
    _keep(shot)

    # download JSON: the same detections the API answered
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download JSON").click()
    saved = json.loads(Path(dl.value.path()).read_text())
    assert saved["detections"]["xyxy"] == expected["xyxy"]
    # download the annotated image (drawn on the server by detectkit.viz.annotate)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download annotated image").click()
    assert dl.value.suggested_filename == "bus_annotated.jpg"
    assert Path(dl.value.path()).read_bytes()[:2] == b"\xff\xd8"

    assert errors == []
    assert outside == []  # no external assets: every request went to the server itself
    page.close()


def test_page_on_a_phone_width(server: Server, browser: Any, artifacts: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page.set_default_timeout(120_000)
    page.goto(server.url + "/")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('ready')", timeout=60_000)
    page.set_input_files("#files", str(bus_path()))
    page.wait_for_selector("section.result[data-state=done]", timeout=120_000)
    # nothing wider than the screen: no sideways scrolling of the page
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("section.result .stage img").bounding_box()
    assert box is not None
    assert box["width"] <= 390
    shot = artifacts / "serve_page_phone.png"
    page.screenshot(path=str(shot), full_page=False)
    _keep(shot)
    # a refused file shows its error on the page, and the page keeps working
    page.set_input_files("#files", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}])
    page.wait_for_selector("section.result[data-state=error]", timeout=60_000)
    assert "not an image" in page.locator("section.result").text_content()
    # the "sliced" option: the table is the API's sliced answer (tiles of 320 px)
    bus = bus_path()
    sliced = httpx.post(
        server.url + "/v1/detect", params={"conf": 0.25, "slice": "320"}, files={"file": ("bus.jpg", bus.read_bytes())}
    ).json()
    assert len(sliced["xyxy"]) > 2  # more boxes than the whole-image pass finds on this picture
    page.check("#sliced")
    page.fill("#tile", "320")
    page.set_input_files("#files", str(bus))
    page.wait_for_selector("section.result[data-state=done]", timeout=120_000)
    rows = _table_rows(page)
    assert [r[1] for r in rows] == sliced["labels"]
    assert [float(v) for r in rows for v in r[3:7]] == pytest.approx(
        [v for box in sliced["xyxy"] for v in box], abs=0.051
    )
    page.close()
