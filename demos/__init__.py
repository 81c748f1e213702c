"""Gradio demos, one module per application, and a hub that puts them in tabs.

Nothing here may phone home: analytics and hub access are switched off before gradio loads.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def lazy_demo(namespace: dict):
    """A module ``__getattr__`` that builds ``demo = build_demo(default_app())`` on first access, so
    that importing a demo module stays free of work (models load only when the page is wanted)."""

    def __getattr__(name: str):
        if name == "demo":
            namespace["demo"] = namespace["build_demo"](namespace["default_app"]())
            return namespace["demo"]
        raise AttributeError(name)

    return __getattr__


def launch_standalone(namespace: dict) -> None:
    """``python -m demos.<app>``: prepare the app, build its page and serve it on 127.0.0.1 only."""
    app = namespace["default_app"]()
    print(namespace["prepare"](app))
    namespace["build_demo"](app).queue().launch(server_name="127.0.0.1")
