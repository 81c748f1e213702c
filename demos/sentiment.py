"""Gradio demo of the news sentiment monitor: newest items, time series, alerts, a scoring box.

``build_demo(monitor)`` returns the Blocks; ``demo`` (built on first access) uses the sample
config. Importing this module loads no model and launches nothing.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import gradio as gr

from apps.sentiment import Monitor, load_monitor_config
from demos import launch_standalone, lazy_demo

__all__ = ["build_demo", "default_app", "prepare", "DEFAULT_CONFIG"]

log = logging.getLogger("ftsuite.demos")
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "monitor-sample.toml"
_COLOURS = {"positive": "#e3f4e6", "negative": "#fbe4e4", "neutral": "#f1f3f5"}


def default_app() -> Monitor:
    return Monitor(load_monitor_config(DEFAULT_CONFIG))


def prepare(monitor: Monitor) -> str:
    """Give a fresh clone something to show: ingest the configured sample sources (idempotent).

    Items stored under an earlier model (the sample model, before the news model was built) are
    re-scored with the current one, so the demo never shows a half-scored feed.
    """
    report = monitor.ingest()
    rescored = monitor.rescore()
    extra = f"; {rescored} stored items re-scored with {monitor.model_id}" if rescored else ""
    return f"{report.summary()}{extra}; NER {monitor.ner_status}"


def _fmt(ts: float | None) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M") if ts else ""


_FALLBACK_MARK = "<br><small>by the fallback model</small>"


def _sources_html(health: list[dict]) -> str:
    """Each source's health; names and errors are escaped (a URL or an error text is untrusted)."""
    if not health:
        return "<p>No source read yet.</p>"
    out = ["<table style='width:100%;border-collapse:collapse;font-size:13px'><tr><th align=left>source</th>"
           "<th>state</th><th align=left>last success (UTC)</th><th>items</th><th align=left>last error</th></tr>"]
    for h in health:
        failing = bool(h.get("failures"))
        state = f"failing ({h['failures']}x, next try {_fmt(h.get('next_try'))})" if failing else "ok"
        error = f"{_fmt(h.get('last_error_at'))}: {h.get('last_error') or ''}" if h.get("last_error") else ""
        if h.get("skipped"):  # read, but with bad records (a failed read resets these): the first says where and why
            state = f"partial ({h['skipped']} record(s) skipped)"
            error = "; ".join(e for e in (f"first skipped {h.get('first_skipped') or ''}", error) if e)
        out.append(f"<tr style='border-bottom:1px solid #ddd;{'background:#fbe4e4' if failing else ''}'>"
                   f"<td>{html.escape(h['name'])}</td><td>{html.escape(state)}</td>"
                   f"<td>{_fmt(h.get('last_success'))}</td><td align=center>{int(h.get('items') or 0)}</td>"
                   f"<td>{html.escape(error)}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _items_html(rows: list[dict]) -> str:
    """The newest items as a table; every feed string is escaped (feeds are untrusted input)."""
    if not rows:
        return "<p>No items yet: ingest a feed with <code>ftsuite monitor ingest</code>.</p>"
    out = ["<div style='max-height:560px;overflow-y:auto'><table style='width:100%;border-collapse:collapse;font-size:13px'>",
           "<tr><th align=left>published (UTC)</th><th align=left>headline</th><th>sentiment</th>"
           "<th align=left>entities</th><th align=left>topics</th></tr>"]
    for r in rows:
        colour = _COLOURS.get(r.get("label") or "", "#ffffff")
        score = f"{r['label']} ({r['score']:+.2f})" if r.get("label") else "not scored"
        out.append(
            f"<tr style='background:{colour};border-bottom:1px solid #ddd'><td>{_fmt(r['published'])}</td>"
            f"<td>{html.escape(r['title'])}<br><small>{html.escape(r.get('source') or '')}</small></td>"
            f"<td align=center>{html.escape(score)}{_FALLBACK_MARK if r.get('deferred') else ''}</td>"
            f"<td>{html.escape(r.get('entities') or '')}</td>"
            f"<td>{html.escape(r.get('topics') or '')}</td></tr>")
    out.append("</table></div>")
    return "".join(out)


def _alerts_html(alerts: list[dict]) -> str:
    if not alerts:
        return "<p>No alerts have fired.</p>"
    out = ["<table style='width:100%;border-collapse:collapse;font-size:13px'><tr><th>#</th><th align=left>state</th>"
           "<th align=left>rule</th><th align=left>scope</th><th align=left>fired</th><th align=left>resolved</th>"
           "<th>value</th></tr>"]
    for a in alerts:
        colour = "#fbe4e4" if a["state"] == "firing" else "#fff4dd"
        trigger = html.escape(str(a["details"].get("trigger", "")))
        judged = f"<br><small>{html.escape(a['verdict'].replace('_', ' '))}</small>" if a.get("verdict") else ""
        out.append(f"<tr style='background:{colour};border-bottom:1px solid #ddd' title='{trigger}'>"
                   f"<td>{int(a['id'])}</td><td>{html.escape(a['state'])} ({html.escape(a['severity'])}){judged}</td><td>{html.escape(a['rule'])}</td>"
                   f"<td>{html.escape(a['scope_key'])}</td><td>{_fmt(a['fired_at'])}</td>"
                   f"<td>{_fmt(a['resolved_at'])}</td><td align=center>{a['value']:.2f}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _series_figure(monitor: Monitor, scope: str, key: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = monitor.series(scope, key) if key else []
    fig, ax = plt.subplots(figsize=(9, 3.2))
    if not rows:
        ax.text(0.5, 0.5, "pick an entity or topic", ha="center", va="center")
        ax.axis("off")
        return fig
    days = [r["start"] for r in rows]
    ax.bar(days, [r["volume"] for r in rows], color="#c8d3e0")
    ax.set_ylabel("items per day")
    ax2 = ax.twinx()
    ax2.plot(days, [r["mean_score"] if r["mean_score"] is not None else float("nan") for r in rows],
             color="#1f5fa8", marker="o", markersize=3)
    ax2.plot(days, [-(r["share_negative"]) if r["share_negative"] is not None else float("nan") for r in rows],
             color="#c0392b", linestyle="--", linewidth=1)
    ax2.set_ylim(-1.05, 1.05)
    ax2.set_ylabel("mean score (blue)\n- share negative (red)")
    ax.set_title(f"{key}: volume and sentiment per day")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def build_demo(monitor: Monitor) -> gr.Blocks:
    def refresh():
        try:
            monitor.warm_up()
            store = monitor.store
            entities = [e for e, _ in store.entities(watchlist_only=True)]
            status = (f"**{store.count('items')} items** stored, model `{monitor.model_id}` "
                      f"({monitor.sentiment.describe()['backend']}, {monitor.sentiment.describe()['provider']}); "
                      f"sentiment: {monitor.sentiment_status}; NER: {monitor.ner_status}")
            rules = "\n".join(f"- {r.describe()}" for r in monitor.config.rule_list) or "- no rules configured"
            first = entities[0] if entities else None
            firing = [a["scope_key"] for a in store.alerts() if a["scope"] == "entity"]
            if firing:
                first = firing[0]
            return (status, _items_html(store.latest(monitor.model_id, 40)), _alerts_html(store.alerts()),
                    gr.update(choices=entities, value=first), rules, _series_figure(monitor, "entity", first),
                    _sources_html(monitor.source_health()))
        except Exception as exc:  # noqa: BLE001 - the page shows the problem instead of crashing
            log.exception("refresh failed")
            return (f"**Error:** {html.escape(str(exc))}", "", "", gr.update(), "", None, "")

    def review():
        """The headlines the model is least sure of: label these first."""
        try:
            queue = monitor.review_queue(15)
            choices = [(f"{q['title'][:90]} ({q['label']}, margin {q['margin']:.2f})", q["uid"]) for q in queue]
            warning = (f"<p style='color:#a33'><b>{html.escape(monitor.trained_on)}</b></p>"
                       if monitor.sample_only else f"<p>{html.escape(monitor.trained_on)}</p>")
            labels = list(monitor.sentiment.labels)
            return (gr.update(choices=choices, value=choices[0][1] if choices else None), warning,
                    gr.update(choices=labels, value=labels[0]))
        except Exception as exc:  # noqa: BLE001
            log.exception("review failed")
            return gr.update(), f"<p>Could not list headlines: {html.escape(str(exc))}</p>", gr.update()

    def save_correction(uid, label, analyst):
        if not uid:
            return "<p>Choose a headline first.</p>"
        try:
            done = monitor.correct(uid, label, analyst or "")
        except Exception as exc:  # noqa: BLE001 - a bad choice is a message, never a crash
            return f"<p>Not stored: {html.escape(str(exc).splitlines()[0])}</p>"
        return (f"<p>Stored: <i>{html.escape(done['title'][:120])}</i> is <b>{html.escape(done['label'])}</b> "
                f"(the model said {html.escape(str(done['model_said']))}), by {html.escape(done['analyst'])}. "
                f"{monitor.store.count('corrections')} corrections so far; <code>ftsuite monitor retrain</code> "
                "learns from them.</p>")

    def save_verdict(alert_id, verdict, analyst):
        try:
            done = monitor.judge_alert(int(alert_id or 0), verdict, analyst or "")
        except Exception as exc:  # noqa: BLE001
            return f"<p>Not stored: {html.escape(str(exc).splitlines()[0])}</p>"
        return f"<p>Alert {done['alert']} marked {html.escape(done['verdict'])} by {html.escape(done['analyst'])}.</p>"

    def choose_scope(scope):
        try:
            monitor.warm_up()
            if scope == "topic":
                choices = list(monitor.config.topics)
            else:
                choices = [e for e, _ in monitor.store.entities(watchlist_only=True)]
            return gr.update(choices=choices, value=choices[0] if choices else None)
        except Exception:  # noqa: BLE001
            log.exception("scope change failed")
            return gr.update()

    def plot(scope, key):
        try:
            return _series_figure(monitor, scope, key)
        except Exception:  # noqa: BLE001
            log.exception("plot failed")
            return None

    def score(text):
        text = (text or "").strip()
        if not text:
            return "<p>Type a headline first.</p>"
        if len(text) > 2000:
            return "<p>That is longer than 2,000 characters; paste a headline or a short paragraph.</p>"
        try:
            result = monitor.analyse(text)
        except Exception as exc:  # noqa: BLE001
            log.exception("scoring failed")
            return f"<p>Could not score it: {html.escape(str(exc))}</p>"
        s = result["sentiment"]
        probs = ", ".join(f"{html.escape(k)} {v:.2f}" for k, v in s["scores"].items())
        entities = ", ".join(html.escape(e["entity"]) for e in result["entities"]) or "none"
        topics = ", ".join(f"{html.escape(k)} ({v:.2f})" for k, v in result["topics"].items()) or "none"
        colour = _COLOURS.get(s["label"], "#fff")
        notes = " (cut at the model's maximum length)" if s.get("truncated") else ""
        if s.get("deferred"):
            notes += " (the first model was unsure: scored by the fallback model)"
        return (f"<div style='background:{colour};padding:8px;border-radius:6px'><b>{html.escape(s['label'])}</b> "
                f"score {s['score']:+.2f}{notes}<br>probabilities: {probs}<br>entities: {entities}<br>"
                f"topics: {topics}</div>")

    with gr.Blocks(title="ftsuite - news sentiment monitor") as demo:
        gr.Markdown("## Financial-news sentiment monitor\nNewest items coloured by sentiment, "
                    "sentiment over time per company or topic, and the alerts the rules raised.")
        status = gr.Markdown()
        with gr.Row():
            with gr.Column(scale=3):
                gr.Markdown("### Newest items")
                newest = gr.HTML()
            with gr.Column(scale=2):
                gr.Markdown("### Alerts")
                alerts = gr.HTML()
        gr.Markdown("### Over time")
        with gr.Row():
            scope = gr.Radio(["entity", "topic"], value="entity", label="scope", scale=1)
            key = gr.Dropdown(choices=[], label="entity or topic", scale=2, allow_custom_value=False)
        series = gr.Plot(label="volume and sentiment per day")
        gr.Markdown("### Score a headline")
        with gr.Row():
            headline = gr.Textbox(label="headline", placeholder="e.g. Halvorsen Shipping cuts its outlook", scale=4)
            button = gr.Button("Score", variant="primary", scale=1)
        result = gr.HTML()
        gr.Markdown("### Correct the model\nThe headlines the model is least sure of come first: a few minutes "
                    "of labelling help most there. `ftsuite monitor retrain` learns from the corrections and "
                    "is swapped in only when it is not worse.")
        model_note = gr.HTML()
        with gr.Row():
            unsure = gr.Dropdown(choices=[], label="headline", scale=4, allow_custom_value=False)
            correct_label = gr.Radio(list(getattr(monitor.sentiment, "labels", None) or
                                          ["negative", "neutral", "positive"]), value="negative",
                                     label="its sentiment", scale=2)
            analyst = gr.Textbox(label="analyst", value="analyst", scale=1)
        with gr.Row():
            review_button = gr.Button("Least sure first", scale=1)
            save_button = gr.Button("Save correction", variant="primary", scale=1)
        saved = gr.HTML()
        with gr.Row():
            alert_id = gr.Number(label="alert id", precision=0, scale=1)
            verdict = gr.Radio(["false_alarm", "confirmed"], value="false_alarm", label="verdict", scale=2)
            verdict_button = gr.Button("Save verdict", scale=1)
        verdict_saved = gr.HTML()
        gr.Markdown("### Rules in force")
        rules = gr.Markdown()
        gr.Markdown("### Sources")
        sources = gr.HTML()
        refresh_button = gr.Button("Refresh")

        outputs = [status, newest, alerts, key, rules, series, sources]
        demo.load(refresh, outputs=outputs)
        refresh_button.click(refresh, outputs=outputs, api_name="refresh")
        scope.change(choose_scope, inputs=scope, outputs=key)
        key.change(plot, inputs=[scope, key], outputs=series)
        button.click(score, inputs=headline, outputs=result, api_name="score")
        demo.load(review, outputs=[unsure, model_note, correct_label])
        review_button.click(review, outputs=[unsure, model_note, correct_label], api_name="review")
        save_button.click(save_correction, inputs=[unsure, correct_label, analyst], outputs=saved,
                          api_name="correct")
        verdict_button.click(save_verdict, inputs=[alert_id, verdict, analyst], outputs=verdict_saved,
                             api_name="verdict")
        headline.submit(score, inputs=headline, outputs=result)
    return demo


__getattr__ = lazy_demo(globals())  # `demo`, built on first access

if __name__ == "__main__":
    launch_standalone(globals())
