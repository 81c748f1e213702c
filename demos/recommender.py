"""Gradio demo of the text-aware recommender: a user's history and recommendations with their
explanations, a profile built from chosen movies or a typed preference, similar items.

``build_demo(recommender)`` returns the Blocks; ``default_app()`` is cheap (the ML-100K
recommender when built, else the shipped sample); ``demo`` is built on first access. Importing
this module loads no model and launches nothing.
"""

from __future__ import annotations

import html
import logging

import gradio as gr

from apps.recommender import Recommender, default_folder

from . import launch_standalone, lazy_demo

__all__ = ["build_demo", "default_app", "prepare"]

log = logging.getLogger("ftsuite.demos")
MAX_CHOICES = 12


def default_app() -> Recommender:
    """The ML-100K recommender when ``ftsuite recommend train`` built it, else the sample one."""
    main = default_folder("ml-100k")
    return Recommender(main if (main / "recommender.json").is_file() or
                       not (default_folder("sample") / "recommender.json").is_file() else default_folder("sample"))


def prepare(recommender: Recommender) -> str:
    status = recommender.status()
    return (f"recommender '{status['name']}': {status['items']} items, {status['users']} users, interest model "
            f"{status['interest_model']}")


def _rows_html(rows: list[dict], heading: str = "") -> str:
    """Recommendations as a table; titles and explanations are escaped (catalogues are user data)."""
    if not rows:
        return "<p>Nothing to show.</p>"
    out = [f"<h4>{html.escape(heading)}</h4>" if heading else "",
           "<table style='width:100%;border-collapse:collapse;font-size:13px'><tr><th>#</th>"
           "<th align=left>title</th><th align=left>genres</th><th>score</th><th align=left>why</th></tr>"]
    for n, r in enumerate(rows, 1):
        score = "" if r.get("score") is None else f"{r['score']:.3f}"
        out.append(f"<tr style='border-bottom:1px solid #ddd'><td>{n}</td><td>{html.escape(r['title'])}</td>"
                   f"<td>{html.escape(', '.join(r.get('genres') or []))}</td><td align=center>{score}</td>"
                   f"<td>{html.escape(r.get('explanation') or '')}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _message(text: str) -> str:
    return f"<p style='color:#a33'>{html.escape(text)}</p>"


def build_demo(recommender: Recommender) -> gr.Blocks:
    def load():
        try:
            status = prepare(recommender)
            users = recommender.user_ids()
            titles = [recommender.catalogue.label(i) for i in range(len(recommender.catalogue))]
            return (f"**{html.escape(status)}**", gr.update(choices=users, value=users[0] if users else None),
                    gr.update(choices=titles), gr.update(choices=titles, value=titles[0] if titles else None))
        except Exception as exc:  # noqa: BLE001 - the page shows the problem instead of crashing
            log.exception("the recommender could not load")
            return (f"**The recommender could not load:** {html.escape(str(exc))}", gr.update(), gr.update(),
                    gr.update())

    def for_user(user, k):
        try:
            if not user or not str(user).strip():
                return _message("Pick a user first.")
            history = recommender.history(user, 10)
            rows = recommender.recommend_user(user, k)
            return _rows_html(history, f"user {user}: recently liked") + _rows_html(rows, "recommended")
        except Exception as exc:  # noqa: BLE001
            return _message(str(exc))

    def profile(items, text, k):
        try:
            items = [i for i in (items or []) if str(i).strip()]
            text = (text or "").strip()
            if items:
                if len(items) > MAX_CHOICES:
                    return _message(f"Choose at most {MAX_CHOICES} movies.")
                return _rows_html(recommender.recommend_from_items(items, k), "because of the movies you chose")
            if text:
                return _rows_html(recommender.recommend_text(text, k), "for your description")
            return _message("Choose a few movies or type what you would like to watch.")
        except Exception as exc:  # noqa: BLE001
            return _message(str(exc))

    def similar(item, k):
        try:
            if not item or not str(item).strip():
                return _message("Pick or type a movie first.")
            return _rows_html(recommender.similar(item, k), f"similar to {item}")
        except Exception as exc:  # noqa: BLE001
            return _message(str(exc))

    with gr.Blocks(title="ftsuite - recommender") as demo:
        gr.Markdown("## Text-aware movie recommender\nCollaborative signals (EASE, item-kNN, popularity) blended "
                    "with the text of what you liked by a learned ranker; every row says why.")
        status = gr.Markdown()
        k = gr.Slider(1, 30, value=10, step=1, label="how many")
        with gr.Tab("A user"):
            with gr.Row():
                user = gr.Dropdown(choices=[], label="user", allow_custom_value=True, scale=3)
                user_button = gr.Button("Recommend", variant="primary", scale=1)
            user_out = gr.HTML()
        with gr.Tab("Build a profile"):
            liked = gr.Dropdown(choices=[], multiselect=True, label="movies you liked (oldest first)",
                                allow_custom_value=True)
            text = gr.Textbox(label="... or describe what you want",
                              placeholder="e.g. slow-burning sci-fi with a twist")
            profile_button = gr.Button("Recommend", variant="primary")
            profile_out = gr.HTML()
        with gr.Tab("Similar items"):
            with gr.Row():
                item = gr.Dropdown(choices=[], label="movie", allow_custom_value=True, scale=3)
                similar_button = gr.Button("Find similar", variant="primary", scale=1)
            similar_out = gr.HTML()

        demo.load(load, outputs=[status, user, liked, item])
        user_button.click(for_user, inputs=[user, k], outputs=user_out, api_name="user")
        profile_button.click(profile, inputs=[liked, text, k], outputs=profile_out, api_name="profile")
        text.submit(profile, inputs=[liked, text, k], outputs=profile_out)
        similar_button.click(similar, inputs=[item, k], outputs=similar_out, api_name="similar")
    return demo


__getattr__ = lazy_demo(globals())  # `demo`, built on first access

if __name__ == "__main__":
    launch_standalone(globals())
