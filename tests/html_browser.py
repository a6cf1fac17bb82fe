"""Headless Chromium driven through the DevTools protocol, for the HTML report tests.

Chromium is started with --remote-debugging-pipe: it reads protocol commands
from file descriptor 3 and writes replies and events to descriptor 4, each
message a JSON text ended by a NUL byte. No port is opened and nothing but the
pipe is parsed, so the result does not depend on Chromium's log format.

What a page load reports (Page.load):
  - console messages of level error or warning (Runtime.consoleAPICalled),
    uncaught exceptions (Runtime.exceptionThrown) and browser log entries of
    level error or warning (Log.entryAdded: failed loads, blocked content,
    security and rendering problems);
  - every request the page made (Network.requestWillBeSent): a self-contained
    page makes exactly one, for itself;
  - screenshots of the viewport and of the whole page (Page.captureScreenshot).

Also a small PNG decoder (zlib + the five PNG row filters) to measure how much
of a screenshot is not background.
"""
import base64
import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import time
import zlib

INSTALL_HINT = ("chromium is not installed: install it with 'apt-get install chromium' "
                "(scripts/setup.sh does so when run as root with DLOR_WITH_PYTHON=1)")


def find_chromium():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


class BrowserError(Exception):
    pass


class Browser:
    """One headless Chromium with one page (tab) of width x height CSS pixels."""

    def __init__(self, exe, width=1366, height=900, wait=120):
        self.wait = wait
        self.profile = tempfile.mkdtemp(prefix="dlor-chromium-")
        to_r, to_w = os.pipe()      # commands: we write, Chromium reads on fd 3
        from_r, from_w = os.pipe()  # replies: Chromium writes on fd 4, we read

        def child_fds():
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)

        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
                "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}", "about:blank"]
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr, pass_fds=(3, 4), preexec_fn=child_fds)
        os.close(to_r)
        os.close(from_w)
        self.out = to_w
        self.inp = from_r
        self.buf = b""
        self.next_id = 0
        self.events = []
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for m in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
                self.call(m, session=True)
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=True)
        except Exception:
            self.close()
            raise

    def _send(self, method, params, session):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self.out, data)
            data = data[n:]
        return self.next_id

    def _read(self):
        deadline = time.monotonic() + self.wait
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise BrowserError(f"chromium did not answer within {self.wait} s")
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                self.stderr.seek(0)
                tail = self.stderr.read()[-2000:].decode("utf-8", "replace")
                raise BrowserError("chromium closed the pipe: " + tail)
            self.buf += chunk
        i = self.buf.index(b"\0")
        msg = json.loads(self.buf[:i])
        self.buf = self.buf[i + 1:]
        return msg

    def call(self, method, params=None, session=False):
        i = self._send(method, params, session)
        while True:
            msg = self._read()
            if msg.get("id") == i:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def evaluate(self, expr):
        """Value of a JavaScript expression, evaluated by the protocol (the page itself has no scripts)."""
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True},
                      session=True)
        if "exceptionDetails" in r:
            raise BrowserError(f"evaluate failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def load(self, url):
        """Opens url and waits for its load event and fonts. Returns a dict:
        errors (console errors/warnings, exceptions, log errors/warnings), requests (URLs)."""
        self.events = []
        self.call("Page.navigate", {"url": url}, session=True)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read())
        self.evaluate("document.fonts.ready.then(() => true)")
        # a round trip so that events queued before it are in self.events
        self.evaluate("1")
        errors, requests = [], []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                errors.append(f"console.{p.get('type')}: {text}")
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                errors.append("uncaught: " + str(d.get("exception", {}).get("description", d.get("text"))))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
                en = p["entry"]
                errors.append(f"log {en.get('level')} ({en.get('source')}): {en.get('text')} {en.get('url', '')}")
            elif m == "Network.requestWillBeSent":
                requests.append(p.get("request", {}).get("url", ""))
            elif m == "Network.loadingFailed":
                errors.append(f"load failed: {p.get('errorText')}")
        return {"errors": errors, "requests": requests}

    def screenshot(self, path, full_page=False):
        params = {"format": "png"}
        if full_page:
            m = self.call("Page.getLayoutMetrics", session=True)
            size = m.get("cssContentSize", m.get("contentSize"))
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = base64.b64decode(self.call("Page.captureScreenshot", params, session=True)["data"])
        with open(path, "wb") as f:
            f.write(data)
        return data

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self._send("Browser.close", None, False)
                    self.proc.wait(timeout=20)
                except Exception:
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        finally:
            for fd in (self.out, self.inp):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)


def decode_png(data):
    """(width, height, channels, bytes of the rows without filter bytes) of an 8-bit RGB/RGBA/grey PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
    raw = zlib.decompress(b"".join(idat))
    stride = w * channels
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = prev[i]
                c = prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif f != 0:
            raise ValueError(f"bad PNG filter {f}")
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return w, h, channels, bytes(out)


def ink_stats(data):
    """(fraction of pixels that are not near-white, number of distinct colours) of a PNG."""
    w, h, ch, px = decode_png(data)
    colours = set()
    ink = 0
    for i in range(0, len(px), ch):
        rgb = px[i:i + 3] if ch >= 3 else px[i:i + 1] * 3
        colours.add(bytes(rgb))
        if min(rgb) < 235:
            ink += 1
    return ink / (w * h), len(colours)
