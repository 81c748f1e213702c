"""Soak test of `ftsuite monitor run` against feeds that misbehave (issue #22 target "soak test").

Target: `monitor run` for 10 minutes on a local feed server that fails, drips, redirects and serves
malformed items in turn: 0 crashes, 0 lost good items, every bad source named in status.

1. A real HTTP server on 127.0.0.1 (a thread) serves
   - /good.xml: an RSS feed that publishes NEW_PER_POLL new items on each request and lists the last
     WINDOW of them (so a monitor killed before storing what it read finds it again, as on a real feed);
   - /bad/K.xml, one per fault mode: each request gets the next mode of MODES, feed K starting at mode
     K: HTTP 500, a body that drips past the fetch deadline, headers that drip past it, a redirect to
     169.254.169.254, a redirect to `localhost` (a loopback name not in allow_hosts), an oversize body
     (announced, and unannounced), malformed XML, and an RSS mixing new good items with bad ones (no
     title or text, pubDates out of range, no pubDate);
   - /never.xml: what the localhost redirect points at; any request there is a breach of the fence.
   Plus a dead URL (a port nothing listens on) and a local JSONL file that a thread appends good and bad
   lines to while the run goes on (some lines written in two halves, as a slow writer does).
2. The real CLI in a subprocess, `ftsuite -v monitor --config SOAK.toml run` (poll 2 s, deadline 3 s,
   max_bytes 200 kB, allow_hosts 127.0.0.1), for --seconds; killed with SIGKILL once half-way and started
   again (the store must lose nothing: what was read but not stored is read again); then the JSONL
   writer stops, two more cycles run, and it is stopped with SIGINT as a user's Ctrl-C does (--signal
   TERM for SIGTERM).
3. Checks: the process never died on its own and printed no traceback; it stopped cleanly (exit 0,
   "stopped cleanly"); every good item served (in a response the monitor lived to finish a cycle after)
   is in the store once, with a score, and nothing else is; `ftsuite monitor status` names every bad
   source with the reason of its last read; no request reached /never.xml; how long the longest drip was
   held open, and the longest gap between two polls of the good feed.

The JSON summary is printed and appended to benchmarks/results/monitor_soak.jsonl.

    FTSUITE_HOME=... .venv/bin/python benchmarks/monitor_soak.py [--seconds 600] [--no-kill] [--signal INT|TERM]

Needs a built sentiment model (`make models`: sentiment-sample and embedder-minilm); NER is left off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import http.server
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

POLL_S, DEADLINE_S, MAX_BYTES = 2, 3, 200_000
NEW_PER_POLL, WINDOW = 3, 30
MODES = ["http-500", "drip-body", "redirect-metadata", "drip-headers", "redirect-localhost", "oversize",
         "oversize-unannounced", "malformed-xml", "mixed"]
# what `monitor status` must say about a source whose last read got this mode (a regular expression)
EXPECTED = {"http-500": r"^failing .*HTTPError", "drip-body": r"^failing .*not read within",
            "drip-headers": r"^failing .*not read within", "redirect-metadata": r"^failing .*link-local",
            "redirect-localhost": r"^failing .*loopback", "oversize": r"^failing .*limit of",
            "oversize-unannounced": r"^failing .*limit of", "malformed-xml": r"^failing .*not a readable",
            "mixed": r"skipped", "dead": r"^failing .*Connection refused", "jsonl": r"skipped"}
DRIP_MAX_S = 45  # a drip gives up after this long if the monitor never lets go


def _rfc822(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment, usegmt=True)


def _rss(items: list[str], title: str = "Soak wire") -> bytes:
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>{title}</title>{''.join(items)}"
            "</channel></rss>").encode()


def _item(title: str, link: str, when: str | None, description: str = "") -> str:
    date = f"<pubDate>{when}</pubDate>" if when is not None else ""
    text = f"<title>{title}</title>" if title is not None else ""
    return f"<item>{text}<description>{description}</description><link>{link}</link>{date}</item>"


class FeedState:
    """What the server published and served: every response is logged with its time, so that the
    checks know which good items the monitor has been offered and which mode each bad feed was in."""

    def __init__(self):
        self.lock = threading.Lock()
        self.good: list[dict] = []  # published on /good.xml: {link, title, pubdate}
        self.mixed: dict[int, list[dict]] = {}  # good items of each bad feed's mixed responses
        self.requests: dict[int, int] = {}
        self.servings: list[tuple[float, str, list[str]]] = []  # (time, feed, good links in the response)
        self.modes: list[tuple[float, int, str]] = []  # (time, bad feed, mode)
        self.drip_held: list[tuple[str, float]] = []  # (mode, seconds the client kept the drip open)
        self.breaches = 0
        self.bad_links: set[str] = set()
        self.counter = 0

    def next_id(self) -> int:
        self.counter += 1
        return self.counter


def make_handler(state: FeedState):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):  # noqa: N802
            try:
                if self.path == "/good.xml":
                    self._good()
                elif self.path.startswith("/bad/"):
                    self._bad(int(self.path.split("/")[2].split(".")[0]))
                elif self.path == "/never.xml":
                    with state.lock:
                        state.breaches += 1
                    self._send(200, _rss([_item("Fence breach", "http://soak.test/never", _rfc822(_now()))]))
                else:
                    self._send(404, b"not here")
            except (BrokenPipeError, ConnectionResetError):  # the monitor gave up on us, as it should
                pass

        def _good(self):
            now = _now()
            with state.lock:
                for _ in range(NEW_PER_POLL):
                    n = state.next_id()
                    state.good.append({"link": f"http://soak.test/good/{n}", "title": f"Acme Corp order book grows, "
                                       f"soak good item {n}", "pubdate": _rfc822(now)})
                shown = state.good[-WINDOW:]
                state.servings.append((time.time(), "good", [g["link"] for g in shown]))
            self._send(200, _rss([_item(g["title"], g["link"], g["pubdate"]) for g in shown]))

        def _bad(self, feed: int):
            with state.lock:
                count = state.requests.get(feed, 0)
                state.requests[feed] = count + 1
                mode = MODES[(feed + count) % len(MODES)]
                state.modes.append((time.time(), feed, mode))
            port = self.server.server_address[1]
            if mode == "http-500":
                self._send(500, b"internal error")
            elif mode == "redirect-metadata":
                self._redirect("http://169.254.169.254/latest/meta-data/")
            elif mode == "redirect-localhost":
                self._redirect(f"http://localhost:{port}/never.xml")
            elif mode == "oversize":
                self.send_response(200)
                self.send_header("Content-Length", str(2 * MAX_BYTES))
                self.end_headers()
                self.wfile.write(b"<rss>" + b" " * (2 * MAX_BYTES - 5))
            elif mode == "oversize-unannounced":  # no Content-Length: the limit must hold while reading
                self.send_response(200)
                self.end_headers()
                body = _rss([_item(f"Padding {i}", f"http://soak.test/pad/{i}", _rfc822(_now()), "x" * 1000)
                             for i in range(2 * MAX_BYTES // 1000)])
                self.wfile.write(body)
            elif mode == "malformed-xml":
                self._send(200, b"<?xml version='1.0'?><rss><channel><title>Broken</ti<<tle><item><title>Half & "
                                b"\x00 done")
            elif mode == "mixed":
                self._mixed(feed)
            elif mode == "drip-body":
                started = time.monotonic()
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self._drip(b"<", 0.2, started, mode)
            elif mode == "drip-headers":  # the status line, then a header every 0.5 s
                started = time.monotonic()
                self.wfile.write(b"HTTP/1.0 200 OK\r\n")
                self._drip(b"X-Drip: a\r\n", 0.5, started, mode)

        def _mixed(self, feed: int):
            now = _now()
            with state.lock:
                history = state.mixed.setdefault(feed, [])
                for _ in range(2):
                    n = state.next_id()
                    history.append({"link": f"http://soak.test/mixed/{feed}/{n}",
                                    "title": f"Borealis wins a contract, soak mixed item {n}", "pubdate": _rfc822(now)})
                shown = history[-WINDOW:]
                n = state.next_id()
                bad = [_item(None, f"http://soak.test/bad/{n}/untitled", _rfc822(now)),  # no title, no text
                       _item("", f"http://soak.test/bad/{n}/empty", _rfc822(now)),
                       _item(f"Soak bad year {n}", f"http://soak.test/bad/{n}/year", "Mon, 01 Jan 99999 00:00:00 GMT"),
                       _item(f"Soak bad overflow {n}", f"http://soak.test/bad/{n}/overflow",
                             "Fri, 31 Dec 9999 23:59:59 -1200"),
                       _item(f"Soak bad undated {n}", f"http://soak.test/bad/{n}/undated", None)]
                state.bad_links.update(re.findall(r"<link>([^<]+)</link>", "".join(bad)))
                state.servings.append((time.time(), f"bad/{feed}", [g["link"] for g in shown]))
            items = [_item(g["title"], g["link"], g["pubdate"]) for g in shown]
            self._send(200, _rss(items[:1] + bad + items[1:], title=f"Mixed {feed}"))

        def _drip(self, piece: bytes, every: float, started: float, mode: str):
            try:
                while time.monotonic() - started < DRIP_MAX_S:
                    self.wfile.write(piece)
                    self.wfile.flush()
                    time.sleep(every)
            except (BrokenPipeError, ConnectionResetError):
                pass
            with state.lock:
                state.drip_held.append((mode, time.monotonic() - started))

        def _send(self, code: int, body: bytes):
            self.send_response(code)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, where: str):
            self.send_response(302)
            self.send_header("Location", where)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class JsonlWriter(threading.Thread):
    """Appends two good lines and one bad line every 3 s; every fourth good line in two halves."""

    BAD = [lambda n: b"{not json " + str(n).encode(),
           lambda n: json.dumps({"title": "", "summary": "", "url": f"http://soak.test/jsonl-bad/{n}",
                                 "published": _now().isoformat()}).encode(),
           lambda n: json.dumps({"title": f"Soak bad epoch {n}", "url": f"http://soak.test/jsonl-bad/{n}",
                                 "published": 1e20}).encode(),
           lambda n: json.dumps({"title": f"Soak bad body {n}", "body": 3, "url": f"http://soak.test/jsonl-bad/{n}",
                                 "published": _now().isoformat()}).encode(),
           lambda n: b"[1, 2, 3]",
           lambda n: b"\xff\xfe not utf-8 " + str(n).encode()]

    def __init__(self, path: Path, state: FeedState):
        super().__init__(daemon=True)
        self.path, self.state, self.stop = path, state, threading.Event()
        self.written: list[dict] = []  # good lines complete in the file: {link, title}
        self.bad = 0

    def run(self):
        n = 0
        while not self.stop.wait(3.0):
            for _ in range(2):
                n += 1
                with self.state.lock:
                    ident = self.state.next_id()
                row = {"title": f"Cobalt shares jump, soak jsonl item {ident}", "summary": "", "source": "soak",
                       "url": f"http://soak.test/jsonl/{ident}", "published": _now().isoformat()}
                line = json.dumps(row).encode() + b"\n"
                with open(self.path, "ab") as handle:
                    if n % 4 == 0:  # a slow writer: half a line, a pause, the rest
                        handle.write(line[:len(line) // 2])
                        handle.flush()
                        time.sleep(1.0)
                        handle.write(line[len(line) // 2:])
                    else:
                        handle.write(line)
                self.written.append({"link": row["url"], "title": row["title"]})
            with open(self.path, "ab") as handle:
                handle.write(self.BAD[self.bad % len(self.BAD)](self.bad) + b"\n")
            self.bad += 1


class Monitored:
    """One `ftsuite monitor run` process; its output lines are kept with the time they arrived."""

    def __init__(self, command: list[str], env: dict, logs: Path, life: int):
        self.started = time.time()
        self.stopped_cleanly_at = 0.0
        self.life = life
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.lines: dict[str, list[tuple[float, str]]] = {"stdout": [], "stderr": []}
        self.readers = [threading.Thread(target=self._read, args=(self.proc.stdout, "stdout", logs), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, "stderr", logs), daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read(self, pipe, name: str, logs: Path):
        with open(logs / f"life{self.life}.{name}.log", "w", encoding="utf-8") as out:
            for raw in pipe:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines[name].append((time.time(), line))
                out.write(line + "\n")
                out.flush()

    def cycles(self) -> list[float]:
        """When each poll cycle ended (the -v log line of the cycle)."""
        return [t for t, line in list(self.lines["stderr"]) if re.search(r"ftsuite\.sentiment: cycle \d+:", line)]

    def finished_after(self, at: float) -> bool:
        """Whether this process, alive at ``at``, went on to finish the cycle it was in (a process
        stopped cleanly finishes the cycle it is in)."""
        ends = self.cycles()
        return self.started <= at and ((bool(ends) and ends[-1] > at) or self.stopped_cleanly_at > at)

    def tracebacks(self) -> list[str]:
        lines = [line for _, line in self.lines["stderr"]]
        return ["\n".join(lines[i:i + 30]) for i, line in enumerate(lines) if line.startswith("Traceback")]

    def finish(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for reader in self.readers:
            reader.join(10)
        return code


def cpu_info() -> dict:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        text = ""
    model = next((l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("Model name")), "")
    flags = next((l.split(":", 1)[1].split() for l in text.splitlines() if l.startswith("Flags")), [])
    return {"model": model, "cores": os.cpu_count(), "avx2": "avx2" in flags,
            "avx512": sorted(f for f in flags if f.startswith("avx512")), "vnni": any("vnni" in f for f in flags)}


def write_config(tmp: Path, base: str, dead: str, jsonl: Path) -> tuple[Path, list[str]]:
    bad = [f"{base}/bad/{k}.xml" for k in range(len(MODES))]
    sources = [*bad, dead, str(jsonl), f"{base}/good.xml"]  # the good feed last: every stall is before it
    config = tmp / "soak.toml"
    config.write_text(f"""name = "soak"
database = "{tmp / 'soak.db'}"
sources = {json.dumps(sources)}
sentiment_model = "${{FTSUITE_HOME}}/artifacts/sentiment-news-distilled|${{FTSUITE_HOME}}/artifacts/sentiment-news|${{FTSUITE_HOME}}/artifacts/sentiment-sample"
ner_model = ""
embedder = "minilm"
poll_interval = "{POLL_S}s"
fetch_deadline = "{DEADLINE_S}s"
max_bytes = {MAX_BYTES}
allow_hosts = ["127.0.0.1"]

[topics]
mergers = ["Company agrees to acquire rival", "Firm wins a large contract"]
results = ["Quarterly profit rises on higher sales", "Shares jump after results"]

[[rules]]
name = "soak-negative"
kind = "share_negative"
scope = "all"
window = "1h"
baseline = "1d"
threshold = 0.9
min_volume = 10
cooldown = "1h"
severity = "warning"

[[notifiers]]
kind = "file"
path = "{tmp / 'alerts.jsonl'}"
""")
    return config, sources


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settled(servings, lives: list[Monitored]) -> set[str]:
    """Good links the monitor has to have stored: served in a response that its process lived to
    finish a cycle after."""
    return {link for at, _, links in servings if any(life.finished_after(at) for life in lives) for link in links}


def read_store(db: Path) -> list[dict]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    rows = [dict(r) for r in connection.execute(
        "SELECT i.uid, i.url, i.title, (SELECT COUNT(*) FROM scores s WHERE s.item_uid = i.uid) AS scores "
        "FROM items i")]
    connection.close()
    return rows


def parse_status(text: str, sources: list[str]) -> dict[str, str]:
    """Each source's line of `monitor status` (the state word and the rest), by source name."""
    out = {}
    for line in text.splitlines():
        match = re.match(r"^(\S+)\s+(.+?): last success", line)
        if match and match.group(2) in sources:
            out[match.group(2)] = f"{match.group(1)} {line[match.end(2) + 1:].strip()}"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600, help="how long the monitor runs (default 600)")
    parser.add_argument("--no-kill", action="store_true", help="no SIGKILL and restart half-way")
    parser.add_argument("--signal", choices=["INT", "TERM"], default="INT", help="how the run is stopped at the end")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (config, store, logs)")
    args = parser.parse_args(argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
    ftsuite = str(Path(sys.executable).with_name("ftsuite"))
    tmp = Path(tempfile.mkdtemp(prefix="monitor-soak-"))

    # 1. the feed server, the dead URL and the JSONL file
    state = FeedState()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    dead = f"http://127.0.0.1:{free_port()}/dead.xml"
    jsonl = tmp / "wire.jsonl"
    jsonl.write_bytes(b"")
    writer = JsonlWriter(jsonl, state)
    config, sources = write_config(tmp, base, dead, jsonl)
    run = [ftsuite, "-v", "monitor", "--config", str(config), "run"]
    print(f"soak: {args.seconds:g} s, config {config}, feeds at {base}", flush=True)

    # 2. the monitor: started, killed -9 half-way and started again, stopped by a signal at the end
    lives: list[Monitored] = []
    crashes: list[dict] = []
    kill = None
    started = time.time()
    lives.append(Monitored(run, env, tmp, 0))
    writer.start()
    while time.time() - started < args.seconds:
        time.sleep(1.0)
        life = lives[-1]
        if life.proc.poll() is not None:  # it died on its own: a crash; start it again to go on soaking
            crashes.append({"at_s": round(time.time() - started, 1), "code": life.proc.returncode,
                            "stderr_tail": [line for _, line in life.lines["stderr"][-20:]]})
            lives.append(Monitored(run, env, tmp, len(lives)))
        elif not args.no_kill and kill is None and time.time() - started >= args.seconds / 2:
            life.proc.send_signal(signal.SIGKILL)
            life.proc.wait()
            kill = {"at_s": round(time.time() - started, 1), "cycles_before": len(life.cycles())}
            lives.append(Monitored(run, env, tmp, len(lives)))
            print(f"soak: killed -9 at {kill['at_s']} s after {kill['cycles_before']} cycles; restarted", flush=True)
    writer.stop.set()
    writer.join(10)
    life = lives[-1]
    quiet = time.time()  # two full cycles after the last JSONL line, so that the monitor has read it
    while len([t for t in life.cycles() if t > quiet]) < 2 and time.time() - quiet < 180 and life.proc.poll() is None:
        time.sleep(0.5)
    if life.proc.poll() is not None:
        crashes.append({"at_s": round(time.time() - started, 1), "code": life.proc.returncode,
                        "stderr_tail": [line for _, line in life.lines["stderr"][-20:]]})
    stop_at = time.time()
    life.proc.send_signal(signal.SIGINT if args.signal == "INT" else signal.SIGTERM)
    code = life.finish(timeout=120)
    exited_at = time.time()
    if code is None:  # it did not stop: a hang
        life.proc.kill()
        life.finish(timeout=30)
    stopped = any(line == "stopped cleanly" for _, line in life.lines["stdout"])
    if stopped and code == 0:
        life.stopped_cleanly_at = exited_at
    run_s = stop_at - started
    httpd.shutdown()
    httpd.server_close()

    # 3. the checks
    status = subprocess.run([ftsuite, "monitor", "--config", str(config), "status"], env=env, capture_output=True,
                            text=True, timeout=300)
    health = parse_status(status.stdout, sources)
    with state.lock:
        servings = list(state.servings)
        modes = list(state.modes)
    owed = settled(servings, lives)
    offered = {link for _, _, links in servings for link in links}
    owed |= {w["link"] for w in writer.written}  # the file is read again each cycle, two after the last line
    rows = read_store(tmp / "soak.db")
    stored_links = [r["url"] for r in rows]
    titles: dict[str, int] = {}
    for r in rows:
        titles[r["title"]] = titles.get(r["title"], 0) + 1
    duplicated = sorted(t for t, n in titles.items() if n > 1)
    good_all = offered | {w["link"] for w in writer.written}
    lost = sorted(owed - set(stored_links))
    in_flight = sorted((offered - owed) - set(stored_links))  # offered only to the killed process, never again
    bad_stored = sorted(set(stored_links) & state.bad_links)
    unexpected = sorted(set(stored_links) - good_all)
    unscored = sum(1 for r in rows if r["scores"] == 0)

    last_mode: dict[str, str] = {}  # the mode of each bad feed's last read that the monitor finished
    for at, feed, mode in modes:
        if any(life.finished_after(at) for life in lives):
            last_mode[f"{base}/bad/{feed}.xml"] = mode
    expected = {**last_mode, dead: "dead", str(jsonl): "jsonl"}
    named, unnamed = {}, {}
    for source, mode in expected.items():
        line = health.get(source, "")
        (named if re.search(EXPECTED[mode], line) else unnamed)[source] = {"mode": mode, "status": line}

    tracebacks = [tb for life in lives for tb in life.tracebacks()]
    gaps, by_life = [], {}
    for at, feed, _ in servings:
        if feed == "good":
            life_no = max(i for i, l in enumerate(lives) if l.started <= at)
            by_life.setdefault(life_no, []).append(at)
    for times in by_life.values():
        gaps += [b - a for a, b in zip(times, times[1:])]
    drips = [held for _, held in state.drip_held]
    cycles = sum(len(l.cycles()) for l in lives)
    source_of = {"good": "feed", "mixed": "mixed feeds", "jsonl": "jsonl file"}
    by_source = {}
    for kind in ("good", "mixed", "jsonl"):
        links = {l for l in good_all if f"/{kind}/" in l}
        by_source[source_of[kind]] = {"served": len(links), "stored": len(links & set(stored_links))}
    request_counts: dict[str, int] = {}
    for _, _, mode in modes:
        request_counts[mode] = request_counts.get(mode, 0) + 1
    result = {
        "benchmark": "monitor_soak", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": args.seconds, "run_s": round(run_s, 1), "cpu": cpu_info(),
        "command": f"ftsuite -v monitor --config SOAK.toml run; stopped with SIG{args.signal}",
        "settings": {"poll_interval_s": POLL_S, "fetch_deadline_s": DEADLINE_S, "max_bytes": MAX_BYTES,
                     "good_feed": f"{NEW_PER_POLL} new items a request, the last {WINDOW} listed",
                     "bad_feeds": len(MODES), "sources": len(sources)},
        "cycles": cycles,
        "good_items": {"served": len(good_all), "owed": len(owed), "stored": len(set(stored_links) & good_all),
                       "lost": len(lost), "duplicated": len(duplicated), "in_flight_at_kill_not_served_again":
                       len(in_flight), "by_source": by_source},
        "bad_items_stored": len(bad_stored), "unexpected_items_stored": len(unexpected),
        "items_without_score": unscored, "fence_breaches": state.breaches,
        "crashes": len(crashes), "tracebacks": len(tracebacks),
        "exit": {"code": code, "stopped_cleanly": stopped, "signal": f"SIG{args.signal}",
                 "stop_to_exit_s": round(exited_at - stop_at, 1) if code is not None else None},
        "kill9": kill, "restarts": len(lives) - 1,
        "good_feed_max_gap_s": round(max(gaps), 1) if gaps else None,
        "drip_held_max_s": round(max(drips), 1) if drips else None,
        "bad_requests_by_mode": request_counts,
        "status": {"named": len(named), "of": len(expected), "unnamed": unnamed,
                   "lines": {s: health.get(s, "") for s in expected}},
    }
    result["ok"] = (not crashes and not tracebacks and code == 0 and stopped and not lost and not duplicated
                    and not bad_stored and not unexpected and not unscored and not unnamed and not state.breaches)
    if lost or duplicated or tracebacks or crashes or unexpected:
        result["examples"] = {"lost": lost[:5], "duplicated": duplicated[:5], "unexpected": unexpected[:5],
                              "tracebacks": tracebacks[:2], "crashes": crashes[:2]}
    print(json.dumps(result, indent=2))
    out = REPO / "benchmarks" / "results" / "monitor_soak.jsonl"
    with open(out, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")
    print(f"appended to {out}; logs in {tmp}" if args.keep else f"appended to {out}")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
