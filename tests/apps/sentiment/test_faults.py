"""The monitor on real feeds: bad records and dead sources never stop it, fetching is fenced, and
the store takes many writers. Servers here are real HTTP servers on 127.0.0.1."""

import http.server
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from apps.sentiment.fetch import FetchPolicy, FetchRefused, fetch_url, read_local, redact
from apps.sentiment.items import Skipped, read_source
from apps.sentiment.pipeline import Monitor
from tests.apps.sentiment.conftest import GOOD, feed

RSS = ("<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title><item><title>Acme profit rose"
       "</title><link>https://news.test/a</link><pubDate>Fri, 02 Oct 2026 08:00:00 GMT</pubDate></item>"
       "</channel></rss>").encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    posts: list = []

    def do_GET(self):  # noqa: N802
        port = self.server.server_address[1]
        if self.path == "/feed.xml":
            self._send(200, RSS)
        elif self.path == "/to-localhost.xml":  # a redirect to a loopback name that is not allowed
            self._redirect(f"http://localhost:{port}/feed.xml")
        elif self.path == "/to-metadata.xml":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif self.path == "/big.xml":
            self._send(200, b"x" * 5000)
        elif self.path == "/unannounced-big.xml":  # no Content-Length: the limit must hold while reading
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 5000)
        elif self.path == "/broken.xml":
            self._send(200, b"<?xml version='1.0'?><rss><channel><title>x</ti<<tle><item>")
        elif self.path == "/empty.xml":
            self._send(200, b"<?xml version='1.0'?><rss version='2.0'><channel><title>Quiet</title></channel></rss>")
        elif self.path == "/drip-headers.xml":  # a header line every 0.25 s: no single wait times out
            self.wfile.write(b"HTTP/1.0 200 OK\r\n")
            try:
                for _ in range(40):
                    self.wfile.write(b"X-Drip: a\r\n")
                    self.wfile.flush()
                    time.sleep(0.25)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path == "/drip.xml":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        else:
            self._send(404, b"not here")

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/moved"):
            self._redirect(f"http://127.0.0.1:{self.server.server_address[1]}/elsewhere")
        else:
            type(self).posts.append(self.path)
            self._send(204, b"")

    def _send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, where):
        self.send_response(302)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


ALLOWED = FetchPolicy(allow_hosts=("127.0.0.1",), max_bytes=4000, deadline=1.5, timeout=1.0)


def test_bad_records_are_skipped_with_their_place(tmp_path):
    jsonl = tmp_path / "f.jsonl"
    jsonl.write_text('{"title": "Acme profit rose", "published": "2026-10-02T08:00:00Z"}\n'
                     '{"title": "far future", "published": 1e20}\n'
                     '{"title": "bad body", "published": "2026-10-02T08:00:00Z", "body": 3}\n', encoding="utf-8")
    out = list(read_source(jsonl))
    assert [type(e).__name__ for e in out] == ["Item", "Skipped", "Skipped"]
    assert out[1].origin == f"{jsonl}:2" and "1e+20" in out[1].reason

    csv_path = tmp_path / "f.csv"
    huge = "y" * 200_000  # over the csv module's 128 KB field limit
    csv_path.write_text("title,published\nAcme profit rose,2026-10-02T08:00:00Z\n"
                        f"{huge},2026-10-02T09:00:00Z\nAcme sales grew,2026-10-02T10:00:00Z\n", encoding="utf-8")
    out = list(read_source(csv_path))
    assert [type(e).__name__ for e in out] == ["Item", "Skipped", "Item"]
    assert out[1].origin == f"{csv_path}:3" and "title over" in out[1].reason

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"title": "Acme order won", "published": "2026-10-02T08:00:00Z"}\n')
    os.mkfifo(folder / "b.jsonl")  # a FIFO would block a reader forever
    out = list(read_source(folder))
    assert isinstance(out[0], Skipped) is False and isinstance(out[1], Skipped)
    assert "not a regular file" in out[1].reason


def test_fetching_is_fenced(server, tmp_path):
    assert b"Acme profit rose" in fetch_url(f"{server}/feed.xml", ALLOWED)
    with pytest.raises(FetchRefused, match="(?s)loopback address.*allow_hosts"):
        fetch_url(f"{server}/feed.xml", FetchPolicy())  # 127.0.0.1 is not allowed by default
    with pytest.raises(FetchRefused, match="localhost resolves to .*loopback"):
        fetch_url(f"{server}/to-localhost.xml", ALLOWED)  # the redirect is checked by the same rules
    with pytest.raises(FetchRefused, match="169.254.169.254.*link-local"):
        fetch_url(f"{server}/to-metadata.xml", ALLOWED)
    with pytest.raises(FetchRefused, match="5000 bytes announced"):
        fetch_url(f"{server}/big.xml", ALLOWED)
    with pytest.raises(FetchRefused, match="more than the limit of 4000 bytes"):
        fetch_url(f"{server}/unannounced-big.xml", ALLOWED)
    started = time.monotonic()
    with pytest.raises(FetchRefused, match="not read within 1.5 s"):
        fetch_url(f"{server}/drip.xml", ALLOWED)
    assert time.monotonic() - started < 3.5
    started = time.monotonic()
    with pytest.raises(FetchRefused, match="not read within 1.5 s"):
        fetch_url(f"{server}/drip-headers.xml", ALLOWED)  # the deadline holds while headers arrive, too
    assert time.monotonic() - started < 3.5
    with pytest.raises(FetchRefused, match="only http and https"):
        fetch_url("ftp://example.org/feed.xml", ALLOWED)
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * 5000)
    with pytest.raises(FetchRefused, match="larger than 4000 bytes"):
        read_local(str(big), ALLOWED)
    assert redact("see https://u:pw@hooks.test/x?token=abc&id=7 now") == "see https://u:***@hooks.test/x?token=***&id=*** now"


def test_one_dead_source_never_stops_the_others_and_backs_off(monitor_config, tmp_path, server):
    monitor_config.fetch_policy = ALLOWED
    good = feed(tmp_path / "good.jsonl", [(1, 9, f"Acme {GOOD[0]} this week"), (1, 10, f"Acme {GOOD[1]} again")])
    dead = "http://127.0.0.1:9/feed.xml?token=secret"  # nothing listens on port 9
    monitor = Monitor(monitor_config).warm_up()
    report = monitor.ingest([str(good), dead, f"{server}/feed.xml", f"{server}/to-metadata.xml"])
    assert report.new == 3  # two from the file, one from the live feed
    failed = dict(report.failed_sources)
    assert set(failed) == {"http://127.0.0.1:9/feed.xml?token=***", f"{server}/to-metadata.xml"}
    assert "URLError" in failed["http://127.0.0.1:9/feed.xml?token=***"] and "link-local" in failed[
        f"{server}/to-metadata.xml"]
    health = {h["name"]: h for h in monitor.source_health()}
    assert health[str(good)]["items"] == 2 and health[str(good)]["failures"] == 0
    dead_health = health["http://127.0.0.1:9/feed.xml?token=***"]
    assert dead_health["failures"] == 1 and dead_health["next_try"] > time.time()
    assert "secret" not in json.dumps(monitor.source_health())
    # a second failure doubles the wait
    monitor.ingest([dead])
    again = {h["name"]: h for h in monitor.source_health()}["http://127.0.0.1:9/feed.xml?token=***"]
    assert again["failures"] == 2 and again["next_try"] - again["last_error_at"] == pytest.approx(
        2 * (dead_health["next_try"] - dead_health["last_error_at"]), rel=0.01)
    assert not monitor.store.source_due("http://127.0.0.1:9/feed.xml?token=***")
    monitor.close()


def test_monitor_status_names_every_source(monitor_config, tmp_path, capsys):
    from core.cli import main

    config = tmp_path / "m.toml"
    text = config.read_text().replace('batch_size = 8', 'batch_size = 8\nsources = ["good.jsonl", '
                                      '"http://169.254.169.254/feed.xml"]')
    config.write_text(text)
    feed(tmp_path / "good.jsonl", [(1, 9, f"Acme {GOOD[0]} this week")])
    assert main(["monitor", "--config", str(config), "ingest"]) == 0
    assert "source failed http://169.254.169.254/feed.xml" in capsys.readouterr().out
    assert main(["monitor", "--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "ok       " in out and "good.jsonl: last success" in out
    assert "failing  http://169.254.169.254/feed.xml" in out and "link-local" in out


def test_status_names_an_unreadable_feed_and_a_source_with_bad_records(tmp_path, server, monkeypatch, capsys):
    from apps.sentiment import cli
    from apps.sentiment.config import MonitorConfig
    from apps.sentiment.pipeline import IngestReport
    from apps.sentiment.store import Store
    from core.cli import main

    monitor = Monitor(MonitorConfig(allow_hosts=["127.0.0.1"]))  # no models: only reading sources
    monitor.store = Store(tmp_path / "m.db")
    monitor.sentiment_status = monitor.ner_status = monitor.trained_on = "-"
    jsonl = tmp_path / "wire.jsonl"
    jsonl.write_text('{"title": "Acme profit rose", "published": "2026-10-02T08:00:00Z"}\n{"title": ""}\n')
    report = IngestReport()
    for source in (f"{server}/broken.xml", f"{server}/empty.xml", str(jsonl)):
        monitor._read_one(source, report)
    assert [name for name, _ in report.failed_sources] == [f"{server}/broken.xml"]
    assert [s.origin for s in report.skipped] == [f"{jsonl}:2"]
    monkeypatch.setattr(cli, "_monitor", lambda args: monitor)
    assert main(["monitor", "status"]) == 0
    lines = {line.split()[1].rstrip(":"): line for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines[f"{server}/broken.xml"].startswith("failing ") and "not a readable RSS/Atom feed" in lines[
        f"{server}/broken.xml"]
    assert lines[f"{server}/empty.xml"].startswith("ok ")  # a well-formed feed with nothing new is fine
    assert lines[str(jsonl)].startswith("partial ") and f"1 record(s) skipped in the last read, first {jsonl}:2: " \
        "no title" in lines[str(jsonl)]
    jsonl.write_text('{"title": "Acme profit rose", "published": "2026-10-02T08:00:00Z"}\n')
    monitor.store = Store(tmp_path / "m.db")
    monitor._read_one(str(jsonl), IngestReport())  # mended: the next read clears the mark
    assert {h["name"]: h["skipped"] for h in monitor.source_health()}[str(jsonl)] == 0
    monitor.store.close()


def test_webhooks_never_follow_redirects_need_a_try_and_hide_secrets(server):
    from apps.sentiment.notifiers import WebhookNotifier
    from core.errors import ConfigError

    hook = WebhookNotifier(f"{server}/moved?token=s3cret", timeout=1, retries=1, backoff=0.0)
    hook.policy = ALLOWED
    with pytest.raises(ConnectionError) as caught:
        hook.send({"event": "fired"})
    assert "302" in str(caught.value) and "s3cret" not in str(caught.value) and "token=***" in str(caught.value)
    assert _Handler.posts == []  # the POST was not turned into a request elsewhere
    ok = WebhookNotifier(f"{server}/hook", timeout=1, retries=1)
    ok.policy = ALLOWED
    ok.send({"event": "fired"})
    assert _Handler.posts == ["/hook"]
    with pytest.raises(ConfigError, match="at least 1"):
        WebhookNotifier(f"{server}/hook", retries=0)


def test_two_processes_create_one_database_together(tmp_path):
    script = ("import sys; sys.path.insert(0, %r); from apps.sentiment.store import Store; "
              "s = Store(sys.argv[1]); s.mark_file(sys.argv[2], 1, 1.0); s.close()") % os.getcwd()
    for attempt in range(6):
        db = tmp_path / f"fresh{attempt}.db"
        procs = [subprocess.Popen([sys.executable, "-c", script, str(db), f"file{n}"], stderr=subprocess.PIPE)
                 for n in range(3)]
        errors = [p.communicate(timeout=60)[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], errors


def test_threads_write_at_once_without_merging_transactions(tmp_path):
    from apps.sentiment.store import Store

    store = Store(tmp_path / "m.db")
    errors = []

    def writer(n):
        try:
            for i in range(25):
                if i % 5 == 4:  # a transaction that fails rolls back its own writes only
                    try:
                        with store.transaction():
                            store.db.execute("INSERT INTO files_seen VALUES (?,?,?,?)", (f"t{n}-{i}", 1, 1.0, 1.0))
                            raise RuntimeError("rolled back")
                    except RuntimeError:
                        pass
                else:
                    store.mark_file(f"t{n}-{i}", i, 1.0)
                    store.source_succeeded(f"source{n}", 1)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.db.execute("SELECT COUNT(*) FROM files_seen").fetchone()[0] == 4 * 20
    assert sorted(h["items"] for h in store.sources()) == [20] * 4
    store.close()
