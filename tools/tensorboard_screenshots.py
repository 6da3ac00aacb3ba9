#!/usr/bin/env python3
"""Screenshots of TensorBoard showing run folders, taken by headless Chromium on loopback: the
README's figures (docs/images/tensorboard-*.png).

    tools/tensorboard_screenshots.py --logdir runs/demo --projector-run runs/demo/vae --out docs/images

Writes OUT/tensorboard-scalars.png (the Time Series tab: every run's curves), OUT/tensorboard-
images.png (the reconstruction grids) and OUT/tensorboard-projector.png (the projector run's test
codes, coloured by label: the colour menu is set through the Chrome DevTools protocol, the
projector living in nested iframes). Needs `apt-get install chromium`, `pip install tensorboard
websocket-client`. Browsers render asynchronously: each page gets --wait seconds (default 20).
"""
import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import websocket


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(logdir):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1",
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2).read()
            return process, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.5)
    process.kill()
    sys.exit("the tensorboard server did not start")


class Browser:
    """Headless Chromium driven over the DevTools protocol."""

    def __init__(self, width=1400, height=900):
        port = free_port()
        self.process = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
             "--hide-scrollbars", f"--window-size={width},{height}", f"--remote-debugging-port={port}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                tabs = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2).read())
                break
            except OSError:
                time.sleep(0.2)
        page = next(t for t in tabs if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=120)
        self.counter = 0
        self.call("Page.enable")

    def call(self, method, **params):
        self.counter += 1
        self.socket.send(json.dumps({"id": self.counter, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.counter:
                return message.get("result", {})

    def open(self, url, wait):
        self.call("Page.navigate", url=url)
        time.sleep(wait)

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True).get("result", {}).get("value")

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        print(f"wrote {path}")

    def close(self):
        self.process.kill()


# Finds elements through shadow roots and same-origin iframes (the projector sits two iframes down).
FIND = """function all(root, sel, out) { root.querySelectorAll('*').forEach(e => { if (e.matches(sel)) out.push(e);
  if (e.shadowRoot) all(e.shadowRoot, sel, out);
  if (e.tagName === 'IFRAME') { try { all(e.contentDocument, sel, out); } catch (x) {} } }); return out; }"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logdir", required=True, help="folder of run folders")
    ap.add_argument("--projector-run", required=True, help="a run folder (or encode --projector folder) with codes")
    ap.add_argument("--out", required=True)
    ap.add_argument("--wait", type=float, default=20)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    browser = Browser()
    server, base = serve(args.logdir)
    try:
        browser.open(base + "#timeseries", args.wait)
        browser.screenshot(os.path.join(args.out, "tensorboard-scalars.png"))
        browser.open(base + "?tagFilter=grids%2Freconstruction#timeseries", args.wait)
        browser.screenshot(os.path.join(args.out, "tensorboard-images.png"))
    finally:
        server.kill()
    server, base = serve(args.projector_run)
    try:
        browser.open(base + "#projector", args.wait)
        chosen = browser.evaluate("(() => {" + FIND + """
            const panels = all(document, 'vz-projector-data-panel', []);
            if (!panels.length) return null;
            panels[0].selectedColorOptionName = 'label';
            return panels[0].selectedColorOptionName; })()""")
        if chosen != "label":
            sys.exit("the projector's colour menu was not found")
        time.sleep(args.wait / 3)
        browser.screenshot(os.path.join(args.out, "tensorboard-projector.png"))
    finally:
        server.kill()
        browser.close()


if __name__ == "__main__":
    main()
