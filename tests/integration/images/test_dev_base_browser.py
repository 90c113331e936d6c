"""dev-base in a real browser: code-server's workbench and the sandbox's Chromium over noVNC.

Playwright drives the host's Debian Chromium (headless) against a booted dev-base through
loopback forwards. It opens code-server and waits for the VS Code workbench, then opens
noVNC, which connects over RFB (through websockify) to the VNC display where the sandbox's
own Chromium runs; the canvas must show Chromium's window (tab strip and toolbar drawn) and
its start page (a gradient with text), not a blank screen. Colour statistics of both go to
`novnc-stats.txt`; screenshots go to the test's artifact directory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.images.devkit import (
    READY_S,
    DevVm,
    all_running,
    eventually,
    http_get,
    needs_qemu,
    needs_root,
)

CHROMIUM = Path("/usr/bin/chromium")
SHOT_MS = 300_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.vm,
    pytest.mark.root,
    pytest.mark.browser,
    needs_root,
    needs_qemu,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)"),
    pytest.mark.timeout(3600),
]

# Colour statistics of a band of the noVNC canvas (rows y0..y1): a blank screen has one
# colour and no spread. The top band holds Chromium's tab strip and toolbar once its window
# is drawn; the rest is the page (a gradient with text once the start page has rendered).
CANVAS_STATS = """
(canvas, [y0, y1]) => {
  const ctx = canvas.getContext('2d');
  const {width, height} = canvas;
  const top = Math.min(y0, height), bottom = Math.min(y1, height);
  if (!width || bottom <= top) return {width, height, colours: 0, mean: 0, spread: 0};
  const data = ctx.getImageData(0, top, width, bottom - top).data;
  const colours = new Set();
  let sum = 0, sumSq = 0, n = 0;
  const step = 4 * 97;
  for (let i = 0; i < data.length; i += step) {
    const lum = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
    colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    sum += lum; sumSq += lum * lum; n += 1;
  }
  const mean = sum / n;
  return {width, height, colours: colours.size, mean, spread: Math.sqrt(sumSq / n - mean * mean)};
}
"""
TOOLBAR_PX = 90  # Chromium's tab strip and toolbar at 1280x800


async def test_code_server_and_novnc_in_a_browser(dev_base: DevVm, artifacts_dir: Path) -> None:
    from playwright.async_api import async_playwright

    dev = dev_base
    async with async_playwright() as playwright:
        await all_running(dev.vm)
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 900})
            page = await context.new_page()
            await _open_code_server(page, dev.code_server, artifacts_dir)
            await _open_novnc(page, dev.novnc, artifacts_dir)
        finally:
            await browser.close()


async def _answering(url: str) -> bool | None:
    return True if (await http_get(url)).status_code == 200 else None


async def _open_code_server(page: Any, url: str, shots: Path) -> None:
    await eventually(lambda: _answering(f"{url}/healthz"), READY_S, "code-server /healthz")
    await _goto(page, f"{url}/?folder=/home/dev/workspace", READY_S)
    workbench = page.locator(".monaco-workbench")
    await workbench.wait_for(state="visible", timeout=600_000)
    await page.locator(".part.activitybar").wait_for(state="visible", timeout=120_000)
    # The workbench's fonts come from the guest: slow under TCG, and screenshots wait for them.
    await page.screenshot(path=str(shots / "code-server.png"), timeout=SHOT_MS)


async def _open_novnc(page: Any, url: str, shots: Path) -> None:
    await eventually(lambda: _answering(f"{url}/vnc.html"), READY_S, "noVNC page")
    await _goto(page, f"{url}/vnc.html?autoconnect=1&resize=off", READY_S)
    status = page.locator("#noVNC_status")
    canvas = page.locator("#noVNC_container canvas")
    await canvas.wait_for(state="attached", timeout=120_000)
    deadline = time.monotonic() + READY_S
    window: dict[str, float] = {}
    page_area: dict[str, float] = {}
    while time.monotonic() < deadline:
        window = await _band(canvas, 0, TOOLBAR_PX)
        page_area = await _band(canvas, TOOLBAR_PX, 10_000)
        if _drawn(window) and _start_page(page_area):
            break
        await page.wait_for_timeout(3000)
    (shots / "novnc-stats.txt").write_text(f"toolbar {window}\npage {page_area}\n")
    await page.screenshot(path=str(shots / "novnc-page.png"), timeout=SHOT_MS)
    await canvas.screenshot(path=str(shots / "novnc-canvas.png"), timeout=SHOT_MS)
    text = (await status.text_content()) or ""
    assert "Connected" in text or await page.locator("#noVNC_control_bar_anchor").count(), text
    assert window.get("width", 0) >= 640, window
    assert _drawn(window), f"no Chromium window on the VNC screen: {window}"
    assert _start_page(page_area), f"Chromium's start page is not drawn: {page_area}"


def _drawn(band: dict[str, float]) -> bool:
    return band.get("colours", 0) >= 8 and band.get("spread", 0) >= 5


def _start_page(band: dict[str, float]) -> bool:
    # The start page is a dark blue-to-orange gradient (about 1 100 colours in the sample); a
    # blank page has one or two colours and an error page is mostly white with grey text.
    return _drawn(band) and band.get("colours", 0) >= 256 and band.get("mean", 255) < 200


async def _band(canvas: Any, y0: int, y1: int) -> dict[str, float]:
    stats: dict[str, float] = await canvas.evaluate(CANVAS_STATS, [y0, y1])
    return stats


async def _goto(page: Any, url: str, within_s: float) -> None:
    """Navigate, retrying while the forwarded port is not answering yet."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            # Not "load": the workbench's many scripts come from an emulated guest; the
            # callers wait for what they need to see.
            await page.goto(url, timeout=SHOT_MS, wait_until="domcontentloaded")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await page.wait_for_timeout(2000)
