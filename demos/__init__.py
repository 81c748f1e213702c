"""Gradio demos, one module per application, and a hub that puts them in tabs.

Nothing here may phone home: analytics and hub access are switched off before gradio loads.
"""

import html
import os
import re

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


_BRACKET = re.compile(r"\[(\d{1,3})\](?![(\[:])|[\[\]]")  # a citation [n] standing alone, or any bracket
_BARE_LINK = re.compile(r"://|(?<![\w.])(www)\.", re.I)  # what Markdown turns into a link without brackets


def escape_untrusted(text) -> str:
    """Text from a document, an upload, an error or a user, for a Gradio Markdown, Chatbot or HTML
    component: shown as the characters it has, never as markup. HTML special characters become
    entities (no tag, no ``<http://...>`` autolink); so do the brackets of Markdown links, images,
    reference definitions and footnotes (``[x](http://...)``, ``![x](...)``, ``[1]: http://...``),
    the ``://`` and ``www.`` that bare-URL autolinking looks for, LaTeX's ``$$`` and backslashes.
    A citation marker such as ``[1]`` stays as it is: with no definition it can only be text."""
    text = html.escape(str(text), quote=True).replace("\\", "&#92;").replace("$$", "&#36;&#36;")
    text = _BRACKET.sub(lambda m: m.group(0) if m.group(1) else f"&#{ord(m.group(0))};", text)
    return _BARE_LINK.sub(lambda m: f"{m.group(1)}&#46;" if m.group(1) else "&#58;//", text)


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
