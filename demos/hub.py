"""The demo hub: every application's demo in one page of tabs (``ftsuite hub``).

Before launching, each app is warmed up and given its sample data (idempotently), so that a fresh
clone shows something (the monitor ingests the sample feed and has its alert fired; the chatbot
indexes the sample help centre; the recommender loads its catalogue).
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


# (tab title, demo module): each module has default_app(), prepare(app) -> str and build_demo(app)
DEMOS = [("News sentiment", "demos.sentiment"), ("Support chatbot", "demos.support"),
         ("Recommender", "demos.recommender")]


def prepare_apps(demos=DEMOS) -> dict:
    import importlib

    apps = {}
    for title, module_name in demos:
        try:
            module = importlib.import_module(module_name)
            app = module.default_app()
            print(f"{title}: {module.prepare(app)}")
            apps[title] = module.build_demo(app)
        except Exception as exc:  # noqa: BLE001 - one broken app must not keep the others off the page
            log.exception("%s could not start", title)
            with gr.Blocks() as broken:
                gr.Markdown(f"{title} could not start: `{exc}`. Build its models with `make models` "
                            "(or `make run`).")
            apps[title] = broken
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
