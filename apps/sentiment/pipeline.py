"""The monitor: ingest items (offline or in a poll loop), score them, store them, raise alerts.

``Monitor(config)`` is cheap; ``warm_up()`` opens the store and loads the models. Alert rules
run in event time: each new item is an evaluation point for the scopes it touches, so replaying
a month of history fires the alerts it would have fired then.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.artifacts import read_manifest
from core.embedding import Embedder, base_embedder_artifact
from core.errors import ConfigError, DataError, ModelNotFoundError
from core.inference import CascadePredictor, int8_is_static, load_predictor

from .config import MonitorConfig
from .entities import EntityExtractor, Mention, Watchlist
from .fetch import failure_reason, redact
from .items import Item, Skipped, read_source
from .notifiers import Notifier
from .rules import Rule, aggregate
from .store import Store, from_ts, ts

__all__ = ["Monitor", "IngestReport", "TopicClassifier", "MemoryAlerts"]

log = logging.getLogger("ftsuite.sentiment")


@dataclass
class IngestReport:
    read: int = 0
    new: int = 0
    duplicates: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    failed_sources: list[tuple[str, str]] = field(default_factory=list)  # (source, reason): read nothing
    alerts_fired: list[dict] = field(default_factory=list)
    alerts_resolved: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.read / self.seconds if self.seconds else 0.0
        failed = f", sources failed {len(self.failed_sources)}" if self.failed_sources else ""
        return (f"read {self.read}, new {self.new}, duplicates {self.duplicates}, skipped {len(self.skipped)}{failed}, "
                f"alerts fired {len(self.alerts_fired)}, resolved {len(self.alerts_resolved)} "
                f"in {self.seconds:.2f} s ({rate:.0f} items/s)")


# Texts per graph run. A monitor batch (config batch_size, larger) is sorted by length and cut into
# runs of this size, so that each run is padded only to its own longest headline.
GRAPH_BATCH = 64


class TopicClassifier:
    """Few-shot topics: an item takes every topic whose closest example is at least ``threshold``
    cosine-similar to it (so it can carry several topics, or none)."""

    def __init__(self, embedder: Embedder, topics: dict[str, list[str]], threshold: float):
        self.names = list(topics)
        self.threshold = threshold
        examples = [e for name in self.names for e in topics[name]]
        self.owner = np.array([i for i, name in enumerate(self.names) for _ in topics[name]])
        self.examples = embedder.encode(examples) if examples else None
        self.embedder = embedder

    def assign(self, texts: list[str]) -> list[dict[str, float]]:
        if self.examples is None or not texts:
            return [{} for _ in texts]
        sims = self.embedder.encode(texts, batch_size=GRAPH_BATCH) @ self.examples.T  # (N, E)
        out = []
        for row in sims:
            best = {}
            for j, name in enumerate(self.names):
                value = float(row[self.owner == j].max())
                if value >= self.threshold:
                    best[name] = round(value, 4)
            out.append(best)
        return out


class MemoryAlerts:
    """Alert state kept in memory (back-tests); the same interface as the store's alert methods."""

    def __init__(self):
        self.rows: list[dict] = []

    def open_alert(self, rule, key):
        return next((a for a in self.rows if a["rule"] == rule and a["scope_key"] == key and a["state"] == "firing"), None)

    def last_alert(self, rule, key):
        rows = [a for a in self.rows if a["rule"] == rule and a["scope_key"] == key]
        return rows[-1] if rows else None

    def fire(self, rule, scope, key, severity, at, value, details, notifiers):
        self.rows.append({"id": len(self.rows) + 1, "rule": rule, "scope": scope, "scope_key": key,
                          "severity": severity, "state": "firing", "fired_at": at, "resolved_at": None,
                          "value": value, "details": details})
        return len(self.rows)

    def resolve(self, alert_id, at, notifiers):
        self.rows[alert_id - 1].update(state="resolved", resolved_at=at)

    def firing(self):
        return [a for a in self.rows if a["state"] == "firing"]


class Monitor:
    def __init__(self, config: MonitorConfig):
        self.config = config
        self.store: Store | None = None
        self.sentiment = None
        self.entities: EntityExtractor | None = None
        self.topics: TopicClassifier | None = None
        self.notifiers: list[Notifier] = []
        self.model_id = ""
        self.ner_status = "not loaded"
        self.sentiment_status = "not loaded"
        self._pool = None

    # ------------------------------------------------------------------ set-up
    def warm_up(self) -> "Monitor":
        if self.store is not None:
            return self
        cfg = self.config
        artifact = cfg.artifact(cfg.sentiment_model)
        manifest = read_manifest(artifact)
        if not {"positive", "negative"} <= set(manifest.get("labels", [])):
            raise ConfigError(f"{artifact} has labels {manifest.get('labels')}; the monitor needs a sentiment "
                              "model with 'positive' and 'negative' labels")
        ner_path = cfg.artifact(cfg.ner_model) if cfg.ner_model else None
        has_ner = bool(ner_path and (ner_path / "manifest.json").is_file())
        # On the CPU two small graphs each on its share of the cores beat both on all cores in turn
        # (short inputs leave intra-op threads idle): 1.08x on 2 cores at batch 512, 1.43x at 64
        # (benchmarks/LOG.md, section 3)
        threads = max(1, (os.cpu_count() or 1) // (3 if has_ner else 2)) if cfg.parallel else None
        self.sentiment = load_predictor(artifact, backend=cfg.backend, threads=threads)
        self.model_id = f"{manifest['name']}@{manifest['created_at']}"
        fallback = cfg.artifact(cfg.sentiment_fallback) if cfg.sentiment_fallback else None
        if fallback is not None and (fallback / "manifest.json").is_file():
            precision = cfg.fallback_precision
            if precision == "batch-independent":
                precision = "int8" if int8_is_static(read_manifest(fallback)) and cfg.backend != "torch" else "fp32"
            second = load_predictor(fallback, backend=cfg.backend, threads=threads, precision=precision)
            self.sentiment = CascadePredictor(self.sentiment, second, cfg.defer_below, cfg.fallback_weight)
            # a score records both models, the threshold and the weight: changing any is a new model to rescore
            weight = f"*{cfg.fallback_weight:g}" if cfg.fallback_weight < 1 else ""
            self.model_id += f">{second.manifest['name']}@{second.manifest['created_at']}<{cfg.defer_below:g}{weight}"
            self.sentiment_status = f"{manifest['name']}, unsure headlines (p < {cfg.defer_below:g}) to {fallback.name}"
            if weight:
                self.sentiment_status += f" (weighted {cfg.fallback_weight:g} with {manifest['name']})"
            self.sentiment_status += batch_dependence_note(second)
        else:
            self.sentiment_status = manifest["name"] + (f" (fallback off: nothing built at {fallback}"
                                                        + _recipe_hint(cfg, fallback) + ")"
                                                        if fallback is not None else "")
        self.trained_on, self.sample_only = trained_on(manifest)
        watchlist = Watchlist.from_csv(cfg.path(cfg.watchlist)) if cfg.watchlist else Watchlist([])
        ner = None
        if has_ner:
            ner = load_predictor(ner_path, backend=cfg.backend, threads=threads)
            self.ner_status = f"on ({ner_path.name})"
        else:
            self.ner_status = (f"off: no NER model at {ner_path} (build it with 'ftsuite train "
                               "configs/ner-conll2003.toml')" if ner_path else "off")
        self.entities = EntityExtractor(watchlist, ner)
        embedder_path = cfg.path(cfg.embedder)
        if embedder_path is not None and embedder_path.is_dir() and (embedder_path / "manifest.json").is_file():
            embedder = Embedder(embedder_path, backend=cfg.backend, threads=threads)
        else:
            embedder = Embedder(base_embedder_artifact(cfg.embedder), backend=cfg.backend, threads=threads)
        self.topics = TopicClassifier(embedder, cfg.topics, cfg.topic_threshold)
        self.notifiers = cfg.build_notifiers()
        self.store = Store(cfg.path(cfg.database))
        if cfg.parallel:
            from concurrent.futures import ThreadPoolExecutor

            # the graphs release the GIL; torch shares one global thread pool, so it runs them in turn
            onnx = all(getattr(p, "backend", "") == "onnx" for p in (self.sentiment, self.topics.embedder.predictor))
            self._pool = ThreadPoolExecutor(max_workers=2 if onnx else 1, thread_name_prefix="monitor-model")
        return self

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.store is not None:
            self.store.close()
            self.store = None

    # ------------------------------------------------------------------ scoring
    def score_texts(self, texts: list[str]) -> list[dict]:
        """Label, probabilities and score = P(positive) - P(negative) for each text."""
        self.warm_up()
        out = []
        for p in self.sentiment.predict(texts, batch_size=GRAPH_BATCH):
            p["score"] = round(p["scores"]["positive"] - p["scores"]["negative"], 4)
            out.append(p)
        return out

    def analyse(self, text: str) -> dict:
        """Everything the monitor would store for one headline (the demo's scoring box)."""
        self.warm_up()
        sentiment = self.score_texts([text])[0]
        mentions = self.entities.extract([text])[0]
        return {"sentiment": sentiment, "entities": [m.__dict__ for m in mentions],
                "topics": self.topics.assign([text])[0]}

    # ------------------------------------------------------------------ ingestion
    def ingest(self, sources: list[str] | None = None, deliver: bool = True) -> IngestReport:
        self.warm_up()
        started = time.perf_counter()
        report = IngestReport()
        items: list[Item] = []
        for source in sources if sources is not None else [self._source_path(s) for s in self.config.sources]:
            items += self._read_one(source, report)
        report.read = len(items) + len(report.skipped)
        self.process(items, report)
        if deliver:
            self.deliver()
        report.seconds = time.perf_counter() - started
        return report

    def _source_path(self, source: str) -> str:
        path = self.config.path(source)
        return str(path) if path is not None and "://" not in source else source

    def _read_one(self, source: str, report: IngestReport) -> list[Item]:
        """One source in its own guard: a source that cannot be read is reported by name (and backs off
        in ``run``), and the items of the others go on."""
        label = redact(str(source))
        items: list[Item] = []
        skipped: list[Skipped] = []
        try:
            for entry in read_source(source, policy=self.config.fetch_policy):
                if isinstance(entry, Skipped):
                    log.warning("skipped %s: %s", redact(entry.origin), entry.reason)
                    skipped.append(entry)
                else:
                    items.append(entry)
        except Exception as exc:  # noqa: BLE001 - one dead source never stops the others
            reason = failure_reason(exc)
            delay = self.store.source_failed(label, reason, self.config.poll_seconds)
            log.warning("source %s failed: %s (next try in %.0f s)", label, reason, delay)
            report.failed_sources.append((label, reason))
            return []
        report.skipped += skipped
        first = f"{redact(skipped[0].origin)}: {skipped[0].reason}" if skipped else None
        self.store.source_succeeded(label, len(items), len(skipped), first)  # status names a source with bad records
        return items

    def source_health(self) -> list[dict]:
        """Each source's last success, last error, items read and next try (UTC times)."""
        self.warm_up()
        return self.store.sources()

    def process(self, items: list[Item], report: IngestReport | None = None) -> IngestReport:
        """De-duplicate, score, extract, store and evaluate rules, batch by batch in time order."""
        self.warm_up()
        report = report or IngestReport(read=len(items))
        unique: dict[str, Item] = {}
        for item in items:
            if item.uid in unique:
                report.duplicates += 1
            else:
                unique[item.uid] = item
        known = self.store.known(list(unique))
        report.duplicates += len(known)
        fresh = sorted((i for uid, i in unique.items() if uid not in known), key=lambda i: i.published)
        size = max(self.config.batch_size, 1)
        batches = [fresh[start:start + size] for start in range(0, len(fresh), size)]
        pending = self._launch(batches[0]) if batches else None
        for n, batch in enumerate(batches):
            texts, scores, topics = pending
            # the next batch's graphs run while this one is stored and its rules evaluated
            pending = self._launch(batches[n + 1]) if n + 1 < len(batches) else None
            mentions = self.entities.extract([i.text for i in batch], ner_texts=texts)
            records = [{"item": i, "sentiment": s, "mentions": m, "topics": t}
                       for i, s, m, t in zip(batch, scores.result(), mentions, topics.result())]
            report.new += self.store.add_batch(records, self.model_id)
            fired, resolved = self.evaluate_points(records, self.store)
            report.alerts_fired += fired
            report.alerts_resolved += resolved
        return report

    def _launch(self, batch: list[Item]):
        """Start scoring and topic assignment of a batch: futures on the model pool (``parallel``),
        else done at once."""
        from concurrent.futures import Future

        texts = [self._model_text(i) for i in batch]
        if self._pool is not None:
            return texts, self._pool.submit(self.score_texts, texts), self._pool.submit(self.topics.assign, texts)
        done = []
        for value in (self.score_texts(texts), self.topics.assign(texts)):
            future = Future()
            future.set_result(value)
            done.append(future)
        return texts, done[0], done[1]

    def _model_text(self, item: Item) -> str:
        return item.title if self.config.read == "title" else item.text

    # ------------------------------------------------------------------ rules
    def _scope_keys(self, rule: Rule, record: dict) -> list[str]:
        if rule.scope == "all":
            return ["*"]
        if rule.scope == "topic":
            return list(record["topics"])
        return [m.entity for m in record["mentions"] if m.on_watchlist or not rule.watchlist_only]

    def evaluate_points(self, records: list[dict], state, model: str | None = None) -> tuple[list, list]:
        """Evaluate every rule at each record's time for the scopes it touches, then re-check open
        alerts at the last record's time so that those whose condition has passed resolve."""
        model = model or self.model_id
        fired, resolved = [], []
        if not records:
            return fired, resolved
        end = ts(records[-1]["item"].published)
        notifier_names = [n.name for n in self.notifiers]
        cache: dict[tuple, list] = {}

        def events(rule: Rule, key: str):
            cache_key = (rule.scope, key, rule.baseline_s)
            if cache_key not in cache:
                first = ts(records[0]["item"].published)
                cache[cache_key] = self.store.scope_events(model, rule.scope, key, first - rule.baseline_s, end)
            return cache[cache_key]

        for record in records:
            at = ts(record["item"].published)
            for rule in self.config.rule_list:
                for key in self._scope_keys(rule, record):
                    agg = aggregate(events(rule, key), at, rule.window_s, rule.baseline_s)
                    holds, value = rule.check(agg)
                    if holds and state.open_alert(rule.name, key) is None:
                        last = state.last_alert(rule.name, key)
                        if last is not None and at - last["fired_at"] < rule.cooldown_s:
                            continue
                        details = {**agg.as_dict(), "rule": rule.describe(), "trigger": record["item"].title}
                        alert_id = state.fire(rule.name, rule.scope, key, rule.severity, at, value, details,
                                              notifier_names)
                        fired.append({"id": alert_id, "rule": rule.name, "scope_key": key, "at": from_ts(at),
                                      "value": value})
        rules = {r.name: r for r in self.config.rule_list}
        for alert in list(state.firing()):
            rule = rules.get(alert["rule"])
            if rule is None:
                continue
            evs = self.store.scope_events(model, rule.scope, alert["scope_key"], end - rule.baseline_s, end)
            holds, _ = rule.check(aggregate(evs, end, rule.window_s, rule.baseline_s))
            if not holds and end > alert["fired_at"]:
                state.resolve(alert["id"], end, notifier_names)
                resolved.append({"id": alert["id"], "rule": alert["rule"], "scope_key": alert["scope_key"],
                                 "at": from_ts(end)})
        return fired, resolved

    def backtest(self, batch: int = 50) -> list[dict]:
        """Replay stored items in time order through the rules, without touching stored alerts."""
        self.warm_up()
        rows = self.store.db.execute("SELECT uid, published, title FROM items ORDER BY published").fetchall()
        memory = MemoryAlerts()
        mentions: dict[str, list] = {}
        for r in self.store.db.execute("SELECT item_uid, entity, kind, on_watchlist FROM mentions"):
            mentions.setdefault(r[0], []).append(Mention(r[1], r[2], bool(r[3])))
        topics: dict[str, dict] = {}
        for r in self.store.db.execute("SELECT item_uid, topic, similarity FROM topics"):
            topics.setdefault(r[0], {})[r[1]] = r[2]
        records = [{"item": Item(title=r["title"], summary="", published=from_ts(r["published"]), uid=r["uid"]),
                    "mentions": mentions.get(r["uid"], []), "topics": topics.get(r["uid"], {})} for r in rows]
        for start in range(0, len(records), batch):
            self.evaluate_points(records[start:start + batch], memory)
        return memory.rows

    # ------------------------------------------------------------------ delivery
    def deliver(self) -> dict:
        """Send every undelivered alert event; failures stay in the outbox for the next call."""
        self.warm_up()
        by_name = {n.name: n for n in self.notifiers}
        sent = failed = 0
        for row in self.store.pending_deliveries():
            notifier = by_name.get(row["notifier"])
            if notifier is None:
                continue
            payload = {"alert_id": row["alert_id"], "event": row["event"], "rule": row["rule"],
                       "scope": row["scope"], "scope_key": row["scope_key"], "severity": row["severity"],
                       "fired_at": from_ts(row["fired_at"]).isoformat(), "value": row["value"],
                       "summary": _summary(row)}
            try:
                notifier.send(payload)
                self.store.mark_delivery(row["alert_id"], row["notifier"], row["event"], None)
                sent += 1
            except Exception as exc:  # noqa: BLE001 - any failure keeps the alert for a retry
                self.store.mark_delivery(row["alert_id"], row["notifier"], row["event"], str(exc))
                failed += 1
        return {"sent": sent, "failed": failed}

    # ------------------------------------------------------------------ an analyst's corrections
    def correct(self, item: str, label: str, analyst: str) -> dict:
        """Store an analyst's sentiment for a stored headline (``item``: its uid, url or a unique uid
        prefix). ``ftsuite monitor retrain`` learns from these."""
        self.warm_up()
        labels = list(self.sentiment.labels)
        if label not in labels:
            raise DataError(f"label {label!r} is not one of the model's labels {labels}", fix=f"use one of {labels}")
        if not analyst or not analyst.strip():
            raise DataError("say who corrects (analyst name)", fix="pass --analyst NAME")
        row = self.store.find_item(item.strip())
        if row is None:
            raise DataError(f"no stored item {item!r}", fix="give an item's uid or url as 'ftsuite monitor review' "
                                                            "lists it")
        scored = self.store.db.execute("SELECT label FROM scores WHERE item_uid=? AND model=?",
                                       (row["uid"], self.model_id)).fetchone()
        previous = scored["label"] if scored else None
        self.store.correct(row["uid"], label, analyst.strip()[:100], self.model_id, previous)
        return {"uid": row["uid"], "title": row["title"], "label": label, "model_said": previous,
                "analyst": analyst.strip()[:100]}

    def judge_alert(self, alert_id: int, verdict: str, analyst: str, note: str = "") -> dict:
        """Mark an alert as a false alarm (or confirm it), with who decided."""
        self.warm_up()
        if verdict not in ("false_alarm", "confirmed"):
            raise DataError(f"verdict {verdict!r}", fix="use false_alarm or confirmed")
        if not analyst or not analyst.strip():
            raise DataError("say who decides (analyst name)", fix="pass --analyst NAME")
        if self.store.alert(int(alert_id)) is None:
            raise DataError(f"no alert {alert_id}", fix="'ftsuite monitor alerts' lists them with their ids")
        self.store.judge_alert(int(alert_id), verdict, analyst.strip()[:100], note[:500])
        return {"alert": int(alert_id), "verdict": verdict, "analyst": analyst.strip()[:100]}

    def review_queue(self, limit: int = 20) -> list[dict]:
        """The stored headlines the served model is least sure of, not yet corrected (uncertainty
        sampling: a few minutes of labelling help most there)."""
        self.warm_up()
        return self.store.uncertain(self.model_id, limit)

    def retrain(self, **options):
        """``apps.sentiment.train.retrain_from_corrections`` on this monitor."""
        from .train import retrain_from_corrections

        return retrain_from_corrections(self, **options)

    # ------------------------------------------------------------------ re-scoring
    def rescore(self, batch: int = 256) -> int:
        """Score stored items that have no score from the current model (after a model change)."""
        self.warm_up()
        done = 0
        while True:
            rows = self.store.items_without_score(self.model_id, batch)
            if not rows:
                return done
            texts = [self._model_text(Item(title=r["title"], summary=r["summary"],
                                           published=from_ts(r["published"]), uid=r["uid"])) for r in rows]
            self.store.put_scores(self.model_id, [(r["uid"], s) for r, s in zip(rows, self.score_texts(texts))])
            done += len(rows)

    # ------------------------------------------------------------------ poll loop
    def run(self, stop: threading.Event | None = None, max_cycles: int | None = None) -> None:
        """Poll the configured sources every ``poll_interval`` until ``stop`` is set (or Ctrl-C)."""
        self.warm_up()
        stop = stop or threading.Event()
        cycles = 0
        while not stop.is_set():
            sources = []
            for source in self.config.sources:
                path = self.config.path(source) if "://" not in source else None
                if path is not None and path.is_dir():
                    sources += self._new_files(path)
                elif self.store.source_due(redact(self._source_path(source))):  # failed sources back off
                    sources.append(self._source_path(source))
            try:
                report = self.ingest(sources)
            except Exception:  # noqa: BLE001 - a cycle that fails (models, disk) is logged; the loop goes on
                log.exception("cycle %d failed; trying again in %s", cycles, self.config.poll_interval)
                cycles += 1
                if max_cycles is not None and cycles >= max_cycles:
                    return
                stop.wait(self.config.poll_seconds)
                continue
            failed = {name for name, _ in report.failed_sources}
            for source in sources:
                p = Path(source)
                if p.is_file() and redact(source) not in failed:  # a file that failed is read again
                    st = p.stat()
                    self.store.mark_file(str(p.resolve()), st.st_size, st.st_mtime)
            log.info("cycle %d: %s", cycles, report.summary())
            cycles += 1
            if max_cycles is not None and cycles >= max_cycles:
                return
            stop.wait(self.config.poll_seconds)

    def _new_files(self, folder: Path) -> list[str]:
        from .items import FEED_SUFFIXES

        out = []
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in FEED_SUFFIXES and path.is_file():
                st = path.stat()
                if not self.store.file_seen(str(path.resolve()), st.st_size, st.st_mtime):
                    out.append(str(path))
        return out

    # ------------------------------------------------------------------ views
    def series(self, scope: str, key: str, bucket: str = "1d") -> list[dict]:
        """Per-bucket volume, mean score and share negative of a scope over the stored history."""
        from .rules import parse_duration

        self.warm_up()
        span = self.store.time_range()
        if span is None:
            return []
        size = parse_duration(bucket)
        events = self.store.scope_events(self.model_id, scope, key, span[0], span[1])
        buckets: dict[int, list] = {}
        for t, label, score in events:
            buckets.setdefault(int(t // size), []).append((label, score))
        out = []
        for b in range(int(span[0] // size), int(span[1] // size) + 1):
            rows = buckets.get(b, [])
            n = len(rows)
            out.append({"start": from_ts(b * size), "volume": n,
                        "mean_score": sum(s for _, s in rows) / n if n else None,
                        "share_negative": sum(1 for l, _ in rows if l == "negative") / n if n else None})
        return out

    def report_png(self, scope: str, key: str, path: str | Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.series(scope, key)
        if not any(r["volume"] for r in rows):
            raise ModelNotFoundError(f"no stored items for {scope} '{key}'. Fix: check the name "
                                     "('ftsuite monitor alerts' and the demo list the entities) or ingest first")
        days = [r["start"] for r in rows]
        fig, ax = plt.subplots(figsize=(10, 4))
        ax.bar(days, [r["volume"] for r in rows], color="#c8d3e0", label="items per day")
        ax.set_ylabel("items")
        ax2 = ax.twinx()
        ax2.plot(days, [r["mean_score"] if r["mean_score"] is not None else np.nan for r in rows],
                 color="#1f5fa8", marker="o", label="mean sentiment")
        ax2.axhline(0, color="#999", linewidth=0.8)
        ax2.set_ylim(-1, 1)
        ax2.set_ylabel("mean score (P(pos) - P(neg))")
        ax.set_title(f"{key}: volume and sentiment per day")
        fig.autofmt_xdate()
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def _recipe_hint(cfg, artifact: Path) -> str:
    """How to build a missing fallback, when a recipe of its name sits beside the monitor's config (its
    static int8 graph is what the fallback runs by default)."""
    recipe = (Path(cfg.base_dir or ".") / f"{artifact.name}.toml").resolve()
    if not recipe.is_file():
        return ""
    shown = recipe.relative_to(Path.cwd()) if recipe.is_relative_to(Path.cwd()) else recipe
    return f"; build it with 'ftsuite up {shown}', then 'ftsuite export {artifact} --int8 static'"


def trained_on(manifest: dict) -> tuple[str, bool]:
    """What a sentiment model learnt from and what it scores on its own test split, in a line; and
    whether that was the project's sample sentences only (a model for a demo, not for real news)."""
    data = manifest.get("data") or {}
    files = [f for f in str((data.get("files") or {}).get("train", "")).split(", ") if f]
    sizes = data.get("sizes") or {}
    test = (manifest.get("metrics") or {}).get("test") or {}
    sample_only = bool(files) and all(Path(f).resolve().is_relative_to(SAMPLES) for f in files)
    line = (f"{manifest.get('name')}: trained on {', '.join(Path(f).name for f in files) or 'unknown data'} "
            f"({sizes.get('train', '?')} training texts)")
    if isinstance(test.get("accuracy"), (int, float)):
        line += f"; own test split: accuracy {test['accuracy']:.3f}, macro-F1 {test.get('macro_f1', 0):.3f}"
    if manifest.get("retrained_from_corrections"):
        line += f"; re-trained on {manifest['retrained_from_corrections']['corrections']['train']} corrections"
    if sample_only:
        line += ("; SAMPLE SENTENCES ONLY, not a model for real news: build the news model with "
                 "'make models-full' (or 'ftsuite up configs/sentiment-news-distilled.toml')")
    return line, sample_only


SAMPLES = Path(__file__).resolve().parent.parent.parent / "data" / "samples"


def batch_dependence_note(predictor) -> str:
    """A warning for a status line when ``predictor`` runs a dynamic int8 graph, whose answers move
    with the other texts of a batch (a headline scored alone can get another label than stored)."""
    if predictor.batch_independent:
        return ""
    return (" (dynamic int8: its answers move with the other headlines of a batch; fix: ftsuite export "
            f"{predictor.artifact} --int8 static)")


def _summary(row) -> str:
    import json

    details = json.loads(row["details"] or "{}")
    return (f"{row['scope']} {row['scope_key']}: {details.get('rule', row['rule'])}; value {row['value']:.2f}; "
            f"window volume {details.get('volume')}, negative {details.get('negative')}")
