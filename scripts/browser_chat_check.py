#!/usr/bin/env python3
"""End-to-end check of the chat page that `a48 serve` serves at `/`, in a real browser: starts the
server and Debian's headless `chromium`, types a message into the page through the Chrome
DevTools protocol, waits for the streamed reply, and screenshots it.

    python3 scripts/browser_chat_check.py --out out/browser_chat.png [--a48 build/release/bin/a48]

Needs `chromium` (apt) and websocket-client (tools/requirements.txt). Not part of ctest.
Exits non-zero when the page shows no reply or an error.
"""
import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "eval"))
from a48_server import A48Server, free_port  # noqa: E402


class DevTools:
    """A minimal Chrome DevTools protocol session on one page."""

    def __init__(self, ws_url):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a48", help="a48 binary (default: build/release/bin/a48)")
    parser.add_argument("--serve-args", default="--device cpu")
    parser.add_argument("--message", default="What does the scheduler do when a timer expires?")
    parser.add_argument("--out", default=str(REPO / "out" / "browser_chat.png"))
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("chromium not found (apt-get install chromium)")

    with A48Server(args.a48, args.serve_args.split()) as server, \
            tempfile.TemporaryDirectory(prefix="a48-chromium-") as profile:
        port = free_port()
        browser = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
             "--window-size=1000,700", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ws_url = None
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                        pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
                    if pages:
                        ws_url = pages[0]["webSocketDebuggerUrl"]
                        break
                except OSError:
                    pass
                time.sleep(0.2)
            if not ws_url:
                sys.exit("chromium's DevTools endpoint did not come up")
            page = DevTools(ws_url)
            page.call("Page.enable")
            page.call("Page.navigate", url=server.url + "/")
            for _ in range(100):
                if page.evaluate("document.readyState === 'complete' && !!document.getElementById('input')"):
                    break
                time.sleep(0.1)
            page.evaluate(f"document.getElementById('input').value = {json.dumps(args.message)};"
                          "document.getElementById('send').click(); true")
            reply = None
            for _ in range(600):
                reply = page.evaluate("(() => { const r = document.querySelector('.msg.assistant');"
                                      " return r && r.dataset.done === '1' ?"
                                      " {text: r.textContent, error: r.classList.contains('error')} : null; })()")
                if reply:
                    break
                time.sleep(0.1)
            shot = page.call("Page.captureScreenshot", format="png")
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(base64.b64decode(shot["data"]))
            print(f"screenshot: {out}")
        finally:
            browser.terminate()
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                browser.kill()
    if not reply:
        print("no reply appeared within 60 s", file=sys.stderr)
        return 1
    print("reply:", reply["text"])
    if reply["error"] or not reply["text"].strip():
        print("the page shows an error or an empty reply", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
