"""Check ``nnml board`` in a real browser: a small sweep with seeds, TensorBoard over it, headless Chromium driven
through chromedriver's WebDriver HTTP API (no Python package needed) to the page it opens on (Custom Scalars: each
configuration's mean curve with its band), the HParams, Scalars and Custom Scalars pages; reports what a person
sees there and saves screenshots (outside the repository).

    python scripts/board_check.py [--sweep DIR] [--shots /tmp/nnml-board]

Without --sweep it first runs ``nnml train -m dataset=moons optimizer=sgd,adam optimizer.lr=1e-2,1e-1 seed=0,1``
(3 epochs) in a temp folder. Needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver). Everything
binds to 127.0.0.1. Prints one JSON object; exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["dataset=moons", "optimizer=sgd,adam", "optimizer.lr=1e-2,1e-1", "seed=0,1"]
# The sweep's configurations as the band charts name them (optimizer and its learning rate; the seeds are replicates).
CONFIGS = [f"optimizer={o}, lr={lr}" for o in ("sgd", "adam") for lr in ("0.01", "0.1")]
CHROME_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run", "--window-size=1500,1100"]

# Text of the page including shadow roots (TensorBoard's HParams dashboard is Polymer, inside shadow DOM).
DEEP_TEXT = """
const out = [];
function walk(node) {
  if (node.nodeType === Node.TEXT_NODE) { const t = node.textContent.trim(); if (t) out.push(t); return; }
  if (node.nodeType !== Node.ELEMENT_NODE && node.nodeType !== Node.DOCUMENT_FRAGMENT_NODE) return;
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const c of node.childNodes) walk(c);
}
walk(document.body);
return out;
"""

# The HParams query pane's checkboxes (hyperparameters and metrics to show) with their state.
DEEP_CHECKBOXES = """
const out = [];
function walk(node) {
  if (node.nodeType !== Node.ELEMENT_NODE && node.nodeType !== Node.DOCUMENT_FRAGMENT_NODE) return;
  if (node.tagName === 'PAPER-CHECKBOX') out.push([node.textContent.trim(), !!node.checked]);
  if (node.shadowRoot) walk(node.shadowRoot);
  for (const c of node.children || []) walk(c);
}
walk(document.body);
return out;
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body=None, timeout: float = 60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}")


def wait_http(url: str, seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


class Browser:
    """A headless Chromium session through chromedriver (W3C WebDriver over HTTP)."""

    def __init__(self, chromium: str, driver: str):
        self.port = free_port()
        self.proc = subprocess.Popen([driver, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(f"{self.base}/status", 30)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": CHROME_ARGS}}}}
        self.session = http("POST", f"{self.base}/session", caps, timeout=120)["value"]["sessionId"]

    def cmd(self, method, path, body=None):
        return http(method, f"{self.base}/session/{self.session}{path}", body, timeout=120).get("value")

    def open(self, url: str) -> None:
        self.cmd("POST", "/url", {"url": url})

    def text(self) -> list[str]:
        return self.cmd("POST", "/execute/sync", {"script": DEEP_TEXT, "args": []}) or []

    def checkboxes(self) -> list:
        return self.cmd("POST", "/execute/sync", {"script": DEEP_CHECKBOXES, "args": []}) or []

    def wait_text(self, needles, seconds: float = 60) -> list[str]:
        end, seen = time.time() + seconds, []
        while time.time() < end:
            seen = self.text()
            joined = "\n".join(seen)
            if all(n in joined for n in needles):
                return seen
            time.sleep(1.0)
        return seen

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.cmd("GET", "/screenshot")))

    def close(self) -> None:
        try:
            http("DELETE", f"{self.base}/session/{self.session}")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def run_sweep(workdir: Path) -> Path:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "nnml", "train", "-m", *SWEEP, "trainer.max_epochs=3", "trainer.num_threads=1",
           "trainer.device=cpu"]
    r = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{r.stderr[-2000:]}")
    return next((workdir / "outputs" / "train" / "multiruns").iterdir())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sweep", type=Path, help="a sweep folder (default: run a small one in a temp folder)")
    p.add_argument("--shots", type=Path, default=Path(tempfile.gettempdir()) / "nnml-board-shots")
    p.add_argument("--timeout", type=float, default=90, help="seconds to wait for each page")
    args = p.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        print(json.dumps({"skipped": "chromium or chromedriver not installed"}))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="nnml-board-"))
    sweep = args.sweep or run_sweep(tmp)
    args.shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    board = subprocess.Popen([sys.executable, "-m", "nnml", "board", str(sweep), "--port", str(port)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    result: dict = {"sweep": str(sweep), "url": url, "checks": {}}
    browser = None
    try:
        wait_http(f"{url}/data/runs", 120)
        jobs = sorted(d.name for d in sweep.iterdir() if (d / "metrics.json").is_file())
        result["runs"] = jobs
        browser = Browser(chromium, driver)

        # The page nnml board opens on, without a #dashboard in the address: Custom Scalars, where the sweep's
        # own charts (each configuration's mean over seeds with its band) come first.
        browser.open(f"{url}/")
        seen = browser.wait_text(["each configuration's mean over seeds"], args.timeout)
        time.sleep(3)  # the charts draw after their data arrives
        browser.screenshot(args.shots / "opens_on.png")
        joined = "\n".join(seen)
        result["checks"]["opens_on_the_sweep_bands"] = "each configuration's mean over seeds" in joined
        result["checks"]["bands_per_configuration"] = all(f"means/{c}" in joined for c in CONFIGS)
        result["opens_on_first_texts"] = seen[:12]

        browser.open(f"{url}/#hparams")
        seen = browser.wait_text(["optimizer.lr", "hparam/val/acc"], args.timeout)
        time.sleep(2)
        browser.screenshot(args.shots / "hparams.png")
        joined = "\n".join(seen)
        boxes = browser.checkboxes()
        ticked = [name for name, on in boxes if on]
        ui = {"", "Ignore outliers in chart scaling", "Unknown", "Success", "Failure", "Running"}  # not columns
        hp_ticked = [t for t in ticked if t not in ui and not t.startswith("hparam/")]
        metric_ticked = [t for t in ticked if t.startswith("hparam/")]
        result["hparams_ticked"], result["metrics_ticked"] = hp_ticked, metric_ticked
        result["checks"]["hparams_ticks_what_varies"] = set(hp_ticked) == {"optimizer", "optimizer.lr", "seed"}
        result["checks"]["hparams_ticks_the_monitored_metric_first"] = metric_ticked[:2] == ["hparam/val/acc",
                                                                                          "hparam/test/acc"]
        names = [t for t in seen if t in ("optimizer", "optimizer.lr", "dataset", "seed", "trainer.max_epochs")]
        result["checks"]["hparams_shows_metric"] = "hparam/val/acc" in joined
        result["hparams_first_texts"] = names[:6]

        browser.open(f"{url}/#timeseries")
        seen = browser.wait_text(["train/loss", "val/acc"], args.timeout)
        browser.screenshot(args.shots / "scalars.png")
        joined = "\n".join(seen)
        result["checks"]["scalars_show_metric_charts"] = all(t in joined for t in ("train/loss", "val/acc",
                                                                                    "val/loss"))
        result["checks"]["scalars_no_epoch_chart"] = "epoch" not in seen
        result["checks"]["run_names_only_what_varies"] = all(j in joined for j in jobs) and all(
            "dataset=" not in j for j in jobs)

        browser.open(f"{url}/#custom_scalars")
        seen = browser.wait_text(["of every run"], args.timeout)
        time.sleep(3)
        browser.screenshot(args.shots / "custom_scalars.png")
        joined = "\n".join(seen)
        result["checks"]["custom_scalars_loss_and_monitor"] = ("loss (train/loss, val/loss) of every run" in joined
                                                              and "val/acc (monitored) of every run" in joined)
        result["screenshots"] = str(args.shots)
    finally:
        if browser is not None:
            browser.close()
        board.terminate()
        board.wait(timeout=30)
        if not args.sweep:
            shutil.rmtree(tmp, ignore_errors=True)
    result["ok"] = all(result["checks"].values())
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
