"""The report in the system's headless Chromium, driven over the DevTools protocol.

Chromium is started with ``--remote-debugging-port``; over its WebSocket (``websocket-client``)
the page gets the viewport of a laptop (1280 px) or a phone (390 px: a window cannot be made
that narrow, the protocol's device emulation can), loads the report, and runs a script that
measures what a reader meets (where the summary table, the forest plot and the first exercise
are; whether every image decoded; whether the page is wider than the viewport) and clicks
every link of the contents, recording where its section lands. ``FIGURES`` measures each
figure against its box (does any scroll sideways?); ``accessibility`` injects axe-core (the
WCAG checker, installed from npm by ``npm ci --prefix tests``; ``AXE``) and returns its
violations. Screenshots come from the same page. Nothing is mocked: the real page in the real
browser.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
import urllib.request
from pathlib import Path

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]

PROBE = r"""(() => {
  const abs = el => el ? el.getBoundingClientRect().top + window.scrollY : null;
  const shown = el => !!el && el.offsetWidth > 0 && el.offsetHeight > 0
      && getComputedStyle(el).visibility !== 'hidden';
  const table = document.querySelector('table.glance');
  const forest = document.getElementById('fig-forest');
  const first = [...document.querySelectorAll('h2')]
      .find(h => h.textContent.trim().startsWith('Exercise'));
  const imgs = [...document.images];
  const r = {
    inner_width: window.innerWidth, inner_height: window.innerHeight,
    scroll_width: document.documentElement.scrollWidth,
    table_shown: shown(table), table_top: abs(table),
    table_rows: table ? table.tBodies[0].rows.length : 0,
    forest_shown: shown(forest), forest_top: abs(forest),
    forest_decoded: !!forest && forest.complete && forest.naturalWidth > 0,
    forest_alt: forest ? forest.alt : '',
    forest_width: forest ? forest.getBoundingClientRect().width : 0,
    first_exercise_top: abs(first),
    images: imgs.length,
    decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    without_alt: imgs.filter(i => !i.alt).length,
    toc_position: document.getElementById('TOC')
        ? getComputedStyle(document.getElementById('TOC')).position : null,
    toc: [],
  };
  const maxScroll = () => document.documentElement.scrollHeight - window.innerHeight;
  for (const a of document.querySelectorAll('#TOC a')) {
    window.scrollTo(0, 0);
    a.click();
    const id = decodeURIComponent(a.getAttribute('href').slice(1));
    const target = document.getElementById(id);
    const top = target ? target.getBoundingClientRect().top : null;
    const atEnd = window.scrollY >= maxScroll() - 1;
    r.toc.push({href: a.getAttribute('href'), found: !!target, top: top,
                landed: !!target && (Math.abs(top) <= 12
                         || (atEnd && top > 0 && top < window.innerHeight))});
  }
  window.scrollTo(0, 0);
  return JSON.stringify(r);
})()"""


# Every figure against its box: the image's rendered width, the box's (the <figure>, else the
# image's parent) width and how far it scrolls; which file the browser chose (a <picture>'s
# phone source or the image itself).
FIGURES = r"""(() => JSON.stringify([...document.images].map(img => {
  const box = img.closest('figure') || img.parentElement;
  const source = img.parentElement.tagName === 'PICTURE'
      ? img.parentElement.querySelector('source') : null;
  return {
    id: img.id || (box && box.id) || img.alt.slice(0, 40),
    width: img.getBoundingClientRect().width, natural: img.naturalWidth,
    box_client: box.clientWidth, box_scroll: box.scrollWidth,
    phone_source: !!source, phone_served: !!source && img.currentSrc === source.srcset,
  };
})))()"""

# axe-core's run over the whole page, its violations in short: rule, impact, how many nodes
# and the first few of them.
AXE_RUN = r"""axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(
  r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
                          targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))"""


class Page:
    """One headless Chromium with one page, at a given viewport."""

    def __init__(self, chromium: str, work: Path, width: int, height: int):
        profile = work / f"profile-{width}"
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # an earlier Chromium's port, not this one's
        self.proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}",
                                      "--remote-debugging-port=0", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ws = None
        try:
            self._connect(port_file, width, height)
        except BaseException:
            self.close()
            raise

    def _connect(self, port_file: Path, width: int, height: int) -> None:
        import websocket  # websocket-client, a dev dependency

        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError("Chromium did not open its debugging port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120,
                                              suppress_origin=True)
        self.ids = itertools.count(1)
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)
        self.call("Page.enable")

    def call(self, method: str, **params) -> dict:
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == i:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg["result"]

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        while json.loads(self.ws.recv()).get("method") != "Page.loadEventFired":
            pass

    def evaluate(self, expression: str, wait: bool = False):
        out = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=wait)
        if "exceptionDetails" in out:
            raise AssertionError(f"the page's script failed: {out['exceptionDetails']}")
        return out["result"]["value"]

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot",
                                                    format="png")["data"]))
        return path

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def look(chromium: str, report: Path, width: int, height: int, work: Path,
         shot: Path | None = None) -> dict:
    """The probe's measurements of ``report`` at a ``width`` × ``height`` viewport, and a
    screenshot of what a reader sees first (the top of the page) into ``shot``."""
    page = Page(chromium, work, width, height)
    try:
        page.open(report.resolve().as_uri())
        if shot is not None:
            page.screenshot(shot)
        return json.loads(page.evaluate(PROBE))
    finally:
        page.close()


def figures(page: Page) -> list[dict]:
    return json.loads(page.evaluate(FIGURES))


def accessibility(page: Page) -> list[dict]:
    """axe-core's violations on the open page (every rule axe runs by default)."""
    page.evaluate(AXE.read_text())
    return json.loads(page.evaluate(AXE_RUN, wait=True))


def inspect(chromium: str, report: Path, width: int, height: int, work: Path) -> dict:
    """The figures against their boxes and axe-core's violations, at ``width`` × ``height``."""
    page = Page(chromium, work, width, height)
    try:
        page.open(report.resolve().as_uri())
        return {"figures": figures(page), "violations": accessibility(page)}
    finally:
        page.close()
