"""The demo hub: every application's demo in one page of tabs (``ftsuite hub``).

Before launching, each app is warmed up and given its sample data (idempotently), so that a fresh
clone shows something: the monitor ingests the sample feed and has its alert fired.
"""

from __future__ import annotations

import logging

import gradio as gr

__all__ = ["build_hub", "register", "launch_hub"]

log = logging.getLogger("ftsuite.demos")


def build_hub(apps: dict) -> gr.Blocks:
    """``apps`` maps a tab title to a built demo (``gr.Blocks``)."""
    with gr.Blocks(title="ftsuite demos") as hub:
        gr.Markdown("# ftsuite\nTask models fine-tuned by the suite, served through ONNX Runtime, in applications.")
        for title, demo in apps.items():
            with gr.Tab(title):
                demo.render()
    return hub


def prepare_apps() -> dict:
    from . import sentiment

    apps = {}
    monitor = sentiment.default_app()
    try:
        report = monitor.ingest()
        print(f"news monitor: {report.summary()}; NER {monitor.ner_status}")
        apps["News sentiment"] = sentiment.build_demo(monitor)
    except Exception as exc:  # noqa: BLE001 - one broken app must not keep the others off the page
        log.exception("the news monitor could not start")
        with gr.Blocks() as broken:
            gr.Markdown(f"The news monitor could not start: `{exc}`. Build its model with `make run`.")
        apps["News sentiment"] = broken
    return apps


def launch_hub(host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    hub = build_hub(prepare_apps())
    hub.queue()
    return hub.launch(server_name=host, server_port=port, prevent_thread_lock=not block, share=False,
                      show_error=True)


def register(sub) -> None:
    p = sub.add_parser("hub", help="launch the demo hub (all application demos in tabs)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(func=_command)


def _command(args) -> int:
    launch_hub(args.host, args.port)
    return 0
