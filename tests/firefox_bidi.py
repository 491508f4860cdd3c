"""A small synchronous WebDriver BiDi client for Debian's stock Firefox ESR.

Playwright only drives its own patched Firefox and geckodriver is not installed, but Firefox
speaks WebDriver BiDi itself (`--remote-debugging-port`): one websocket, JSON commands with
ids, answers and events on the same socket. This module starts Firefox, sends commands, and
keeps the few events the tests look at (console and page errors).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import subprocess
import time
from pathlib import Path

import websocket

FIREFOX = Path("/usr/bin/firefox-esr")
COMMAND_TIMEOUT = 20  # seconds; Firefox answers in well under one, except page loads


class BiDiError(RuntimeError):
    pass


def _prefs_js(prefs: dict) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


class Firefox:
    """One headless Firefox with its own profile and one BiDi session."""

    def __init__(self, profile: Path, prefs: dict | None = None):
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "user.js").write_text(_prefs_js(prefs or {}))
        self.log_path = profile.parent / f"{profile.name}.log"
        # Output goes to a file, not a pipe: Firefox logs freely and must never block on a full pipe.
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(FIREFOX), "--headless", "--no-remote", "--profile", str(profile),
                 "--remote-debugging-port=0"],  # 0: any free port, printed to the log
                stdout=log, stderr=subprocess.STDOUT,
            )
        self.ids = itertools.count(1)
        self.errors: list[str] = []  # console errors and uncaught exceptions in pages
        try:
            # No Origin header: Firefox refuses websocket handshakes that come from a web origin.
            self.ws = websocket.create_connection(
                f"{self._listening_url()}/session", timeout=COMMAND_TIMEOUT, suppress_origin=True
            )
            self.send("session.new", capabilities={})
            self.send("session.subscribe", events=["log.entryAdded"])
        except BaseException:
            self.close()
            raise

    def _listening_url(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"WebDriver BiDi listening on (ws://\S+)", self.log_path.read_text(errors="replace"))
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise BiDiError(f"Firefox did not start its BiDi server; its output:\n{self.log_path.read_text()[-2000:]}")

    def send(self, method: str, **params):
        """Send one command and wait for its answer; events that arrive meanwhile are recorded."""
        command_id = next(self.ids)
        self.ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("type") == "event":
                self._on_event(message)
            elif message.get("id") == command_id:
                if message["type"] == "error":
                    raise BiDiError(f"{method}: {message['error']}: {message.get('message', '')}")
                return message["result"]

    def _on_event(self, message: dict) -> None:
        entry = message["params"]
        if message["method"] == "log.entryAdded" and entry.get("level") == "error":
            self.errors.append(f"{entry.get('source', {}).get('context')}: {entry.get('text')}")

    def close(self) -> None:
        # A browser that already died cannot answer; it is waited for (or killed) below anyway.
        with contextlib.suppress(BiDiError, websocket.WebSocketException, OSError):
            if getattr(self, "ws", None):
                self.send("browser.close")
                self.ws.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    # ---------- extensions and tabs ----------

    def install_extension(self, path: Path) -> str:
        """A temporary install of an unpacked extension (unsigned is fine); returns its id."""
        return self.send("webExtension.install", extensionData={"type": "path", "path": str(path)})["extension"]

    def new_tab(self, url: str) -> str:
        context = self.send("browsingContext.create", type="tab")["context"]
        self.send("browsingContext.navigate", context=context, url=url, wait="complete")
        return context

    def screenshot(self, context: str, path: Path) -> None:
        data = self.send("browsingContext.captureScreenshot", context=context)["data"]
        path.write_bytes(base64.b64decode(data))

    # ---------- scripts ----------

    def evaluate(self, context: str, expression: str):
        """The value of a JavaScript expression (awaited if a promise) in the page, through JSON."""
        result = self.send(
            "script.evaluate", target={"context": context}, awaitPromise=True,
            expression=f"(async () => JSON.stringify(await ({expression})))()",
        )
        if result["type"] == "exception":
            raise BiDiError(f"{expression}: {result['exceptionDetails']['text']}")
        value = result["result"]
        return json.loads(value["value"]) if value["type"] == "string" else None  # undefined -> None

    def wait_for(self, context: str, expression: str, timeout: float = 10) -> None:
        """Poll until the expression is truthy in the page."""
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            try:
                if self.evaluate(context, f"Boolean({expression})"):
                    return
            except BiDiError as exc:  # e.g. the page is navigating: its old realm is gone
                last_error = exc
            time.sleep(0.1)
        raise AssertionError(f"not true within {timeout}s in the page: {expression} (last error: {last_error})")

    def click(self, context: str, selector: str) -> None:
        """A real mouse click (trusted events) at the centre of the first element matching selector."""
        x, y = self.evaluate(context, f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            el.scrollIntoView({{block: "center"}});
            const r = el.getBoundingClientRect();
            return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];
        }})()""")
        mouse = [
            {"type": "pointerMove", "x": x, "y": y},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0},
        ]
        self.send("input.performActions", context=context, actions=[
            {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": mouse},
        ])
