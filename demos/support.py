"""Gradio demo of the support chatbot: a chat whose answers show their sources, intent and
confidence, a hand-off button and thumbs up / down; an admin view to add documents and rebuild the
index; the hand-off tickets.

``build_demo(bot)`` returns the Blocks; ``demo`` (built on first access) uses the default knowledge
base (the sample help centre). Importing this module loads no model and launches nothing.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import gradio as gr

from apps.support import SUPPORTED, Answer, SupportBot, default_bot
from apps.support.owndata import evaluate_stages, last_evaluation, train_on_history
from demos import escape_untrusted, launch_standalone, lazy_demo

__all__ = ["build_demo", "default_app", "prepare"]

log = logging.getLogger("ftsuite.demos")
_KIND_TEXT = {"answer": "answered from the help centre", "dont_know": "not covered: offered a person",
              "smalltalk": "small talk", "handoff": "handed to a person"}
_TICKET_COLUMNS = ["id", "created_at", "conversation_id", "intent", "reason", "status", "turns"]
_DOCUMENT_COLUMNS = ["path", "title", "kind", "n_chunks", "updated_at"]
_DOCUMENT_HEADERS = ["path", "title", "kind", "passages", "updated"]


def default_app() -> SupportBot:
    return default_bot()


def prepare(bot: SupportBot) -> str:
    """Load the models and the index (the default knowledge base is built from the sample help centre
    on first use), so that the first question is answered at full speed."""
    bot.warm_up()
    status = bot.status()
    return ", ".join(f"{k} {v}" for k, v in status.items() if not isinstance(v, (dict, list)))


def _answer_markdown(answer: Answer) -> str:
    """The answer as the chat shows it (the Chatbot renders Markdown): the quoted document text is
    untrusted, so nothing in it may become a tag, a link or an image."""
    return escape_untrusted(answer.text)


def _sources_html(answer: Answer | None) -> str:
    """The passages behind an answer, in rank order. Document text is untrusted: always escaped."""
    if answer is None:
        return "<p>Ask a question: the passages an answer rests on appear here.</p>"
    if not answer.sources:
        return "<p>No passage of the knowledge base supports this turn.</p>"
    heading = ("<p><b>Closest passages</b>: too weak to answer from, shown for transparency.</p>"
               if answer.kind != "answer" else "")
    out = [heading, "<ol style='padding-left:1.2em;font-size:13px'>"]
    for source in answer.sources:
        where = escape_untrusted(str(source.path))
        section = f" &rsaquo; {escape_untrusted(source.section)}" if source.section else ""
        text = escape_untrusted(source.text if len(source.text) <= 600 else source.text[:600] + " ...")
        out.append(f"<li style='margin-bottom:8px'><b>{escape_untrusted(source.title or '')}</b>{section}"
                   f" <small>(score {source.score:.3f})</small><br><small><code>{where}</code></small>"
                   f"<blockquote style='margin:4px 0;color:#444'>{text}</blockquote></li>")
    out.append("</ol>")
    return "".join(out)


def _info_markdown(answer: Answer | None) -> str:
    if answer is None:
        return ""
    intent = f"<code>{escape_untrusted(answer.intent)}</code>" if answer.intent else "none"  # labels come from files
    lines = [f"**Intent:** {intent} &nbsp; **Confidence:** {answer.confidence:.2f}",
             f"**Outcome:** {_KIND_TEXT.get(answer.kind, answer.kind)}"]
    if answer.reason:
        lines.append(f"**Why:** {escape_untrusted(answer.reason)}")
    return "  \n".join(lines)


def _summary_markdown(summary: str) -> str:
    """An ingest report, one line per skipped file: file names and reasons are untrusted."""
    return "  \n".join(escape_untrusted(line) for line in summary.splitlines())


def _cell(column: str, value) -> str:
    if value is None:
        return ""
    if column.endswith("_at") and isinstance(value, (int, float)):
        import datetime as dt

        return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def _model_line(name: str, described: dict | None, off_reason: str | None) -> str:
    if described:
        return (f"**{name}:** on ({escape_untrusted(Path(str(described.get('artifact', ''))).name)}, "
                f"{escape_untrusted(str(described.get('backend')))} "
                f"{escape_untrusted(str(described.get('precision')))})")
    return f"**{name}:** off" + (f" ({escape_untrusted(str(off_reason))})" if off_reason else "")


def _status_markdown(status: dict) -> str:
    off = status.get("off") or {}
    parts = [f"**Knowledge base** <code>{escape_untrusted(str(status.get('kb')))}</code>: "
             f"{status.get('documents', 0)} documents, {status.get('chunks', 0)} passages",
             _model_line("intent model", status.get("intent_model"), off.get("intent_model")),
             _model_line("reranker", status.get("reranker"), off.get("reranker")),
             f"**retrieval:** {escape_untrusted(str((status.get('retrieval') or {}).get('mode', '')))}"
             + (" (embedder trained on this base)" if status.get("embedder_trained_on_this_base") else ""),
             f"**tickets:** {status.get('tickets', 0)}"]
    return " &nbsp;·&nbsp; ".join(parts)


_STAGE_HEADERS = ["stage", "Recall@1", "Recall@5", "Recall@10", "MRR@10"]
_OWN_HEADERS = ["model", "in use", "trained", "note"]


def _stage_rows(result: dict) -> list[list]:
    """The stage table of an evaluation (plain-text cells: file names and problems are the user's text)."""
    return [[name, m["recall@1"], m["recall@5"], m["recall@10"], m["mrr@10"]]
            for name, m in (result.get("stages") or {}).items()]


def _own_rows(status: dict) -> list[list]:
    own = status.get("own_models") or {}
    not_trained = own.get("not_trained") or {}
    return [[kind, "yes" if kind in (own.get("in_use") or []) else "no", own.get("trained_at") or "never",
             not_trained.get(kind, "")] for kind in ("embedder", "categories", "reranker")]


def _rows(records: list[dict], columns: list[str]) -> list[list]:
    records = [{**r, "turns": len(r["transcript"])} if isinstance(r.get("transcript"), list) else r for r in records]
    return [[_cell(c, r.get(c)) for c in columns] for r in records]


def build_demo(bot: SupportBot) -> gr.Blocks:
    def respond(message, history, conversation_id):
        history = list(history or [])
        conversation_id = conversation_id or uuid.uuid4().hex[:12]
        if not isinstance(message, str) or not message.strip():
            return history, "", gr.update(), "Type a question first.", conversation_id, None
        try:
            answer = bot.ask(message, conversation_id=conversation_id)
        except Exception as exc:  # noqa: BLE001 - the chat must survive anything a message does
            log.exception("support demo: ask failed")
            history += [{"role": "user", "content": escape_untrusted(message[:2000])},
                        {"role": "assistant", "content": f"Sorry, something went wrong: {escape_untrusted(str(exc))}"}]
            return history, "", _sources_html(None), "", conversation_id, None
        history += [{"role": "user", "content": escape_untrusted(message[:2000])},
                    {"role": "assistant", "content": _answer_markdown(answer)}]
        return history, "", _sources_html(answer), _info_markdown(answer), answer.conversation_id, answer.answer_id

    def handoff(history, conversation_id):
        history = list(history or [])
        if not conversation_id:
            return history, "Start a conversation first: the ticket carries its transcript."
        try:
            ticket = bot.handoff(conversation_id, "the customer pressed 'Talk to a person'")
        except Exception as exc:  # noqa: BLE001
            log.exception("support demo: hand-off failed")
            return history, f"The ticket could not be created: {escape_untrusted(str(exc))}"
        history.append({"role": "assistant", "content": f"I have passed this conversation to a colleague "
                                                        f"(ticket #{ticket}). Someone will get back to you."})
        return history, f"Ticket #{ticket} created."

    def feedback(answer_id, helpful: bool):
        if not answer_id:
            return "Rate an answer after the bot has given one."
        try:
            bot.feedback(answer_id, helpful)
        except Exception as exc:  # noqa: BLE001
            return f"Feedback not stored: {escape_untrusted(str(exc))}"
        return "Thanks: feedback stored." if helpful else "Thanks: we will use this to improve the answers."

    def new_conversation():
        return [], None, None, _sources_html(None), ""

    def add_documents(files):
        paths = [getattr(f, "name", f) for f in (files or [])]
        if not paths:
            return f"Choose one or more files ({', '.join(SUPPORTED)}) first.", documents_rows()
        # keyed by the file's own name, not the upload's temporary folder: uploading a changed file
        # again replaces the old one
        keys = {str(Path(p).resolve()): f"uploads/{Path(p).name}" for p in paths}
        try:
            report = bot.ingest(paths, keys)
        except Exception as exc:  # noqa: BLE001
            log.exception("support demo: ingest failed")
            return f"Nothing was added: {escape_untrusted(str(exc))}", documents_rows()
        return _summary_markdown(report.summary()), documents_rows()

    def rebuild():
        try:
            return _summary_markdown(bot.rebuild().summary()), documents_rows()
        except Exception as exc:  # noqa: BLE001
            log.exception("support demo: rebuild failed")
            return f"Rebuild failed: {escape_untrusted(str(exc))}", documents_rows()

    def rows(fetch, columns: list[str]) -> list[list]:
        try:
            return _rows(fetch(), columns)
        except Exception:  # noqa: BLE001 - an empty table, never a broken page
            log.exception("support demo: listing %s failed", fetch.__name__)
            return []

    def documents_rows():
        return rows(bot.documents, _DOCUMENT_COLUMNS)

    def tickets_rows():
        return rows(bot.tickets, _TICKET_COLUMNS)

    def history_paths(files) -> list[str]:
        return [getattr(f, "name", f) for f in (files or [])]

    def own_tables():
        try:
            return _own_rows(bot.status()), _stage_rows(last_evaluation(bot.warm_up().kb.folder))
        except Exception:  # noqa: BLE001 - empty tables, never a broken page
            log.exception("support demo: own-model tables failed")
            return [], []

    def evaluate_own(files, folds, with_reranker, progress=gr.Progress()):
        paths = history_paths(files)
        if not paths:
            return "Upload one or more history files (CSV / JSONL) first.", *own_tables()
        try:
            folds = int(folds or 0)
            progress(0.05, desc=f"scoring every stage{f' and training per fold ({folds} folds)' if folds else ''}")
            result = evaluate_stages(bot, paths, folds=folds, reranker=bool(with_reranker))
        except Exception as exc:  # noqa: BLE001 - a bad file is reported, the page stays
            log.exception("support demo: evaluation failed")
            return f"Not evaluated: {exc}", *own_tables()
        skipped = "".join(f"\nskipped {p}" for p in result["problems"][:20])
        notes = "".join(f"\n{n}" for n in result.get("notes", []))
        return (f"{result['questions']} questions scored; served mode: {result.get('served_mode')}{notes}{skipped}",
                *own_tables())

    def train_own(files, with_reranker, progress=gr.Progress()):
        paths = history_paths(files)
        try:
            result = train_on_history(bot, paths, reranker=bool(with_reranker),
                                      progress=lambda fraction, stage: progress(fraction, desc=stage))
            progress(0.97, desc="loading the new models")
            bot.reload()
        except Exception as exc:  # noqa: BLE001
            log.exception("support demo: own-data training failed")
            return f"Not trained (the models in use stay): {exc}", *own_tables()
        skipped = "".join(f"\nskipped {p}" for p in result["problems"][:20])
        kept = ", ".join(f"{k} ({v['export']})" for k, v in result["models"].items()) or "none"
        dropped = "".join(f"\n{k}: {why}" for k, why in result["not_trained"].items())
        return (f"Trained on {result['pairs']} question -> answer pairs in {result['seconds']:.0f} s "
                f"({result['held_out']} held out to judge the models). Kept and in use now: {kept}; retrieval "
                f"mode: {bot.retrieval_status()['mode']}.{dropped}{skipped}", *own_tables())

    def status_markdown():
        try:
            return _status_markdown(bot.status())
        except Exception as exc:  # noqa: BLE001
            return f"The bot could not start: {escape_untrusted(str(exc))}"

    with gr.Blocks(title="ftsuite support chatbot") as demo:
        gr.Markdown("## Customer-support chatbot\nAnswers come from the help centre and cite it; a question "
                    "it does not cover gets an honest *I don't know* and the offer of a person.")
        status = gr.Markdown()
        conversation = gr.State(None)
        last_answer = gr.State(None)
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(label="Conversation", height=440)
                    with gr.Row():
                        message = gr.Textbox(placeholder="e.g. My card payment was declined, why?", show_label=False,
                                             scale=5, max_lines=4)
                        send = gr.Button("Send", variant="primary", scale=1)
                    with gr.Row():
                        up = gr.Button("Helpful")
                        down = gr.Button("Not helpful")
                        person = gr.Button("Talk to a person")
                        fresh = gr.Button("New conversation")
                    notice = gr.Markdown()
                with gr.Column(scale=2):
                    info = gr.Markdown()
                    sources = gr.HTML(_sources_html(None), label="Sources")
        with gr.Tab("Knowledge base"):
            gr.Markdown("Add Markdown, text, HTML, PDF, Word (.docx), PowerPoint (.pptx), Excel (.xlsx) or FAQ "
                        "(CSV / JSONL with question, answer) files; unchanged files are skipped, changed ones "
                        "replaced, unreadable ones reported. *Rebuild* re-indexes everything from the store.")
            # no file_types: gradio would refuse the whole upload for one odd file; the knowledge base
            # names each file it cannot use and why, and adds the others
            uploads = gr.File(file_count="multiple", label=f"Documents ({' '.join(SUPPORTED)})")
            with gr.Row():
                add = gr.Button("Add to knowledge base", variant="primary")
                rebuild_button = gr.Button("Rebuild index")
            admin_result = gr.Markdown()
            documents = gr.Dataframe(headers=_DOCUMENT_HEADERS, interactive=False,
                                     column_widths=["42%", "34%", "7%", "6%", "11%"])
        with gr.Tab("Tickets"):
            refresh_tickets = gr.Button("Refresh")
            tickets = gr.Dataframe(headers=_TICKET_COLUMNS, interactive=False, wrap=True)
        with gr.Tab("Train on your questions"):
            gr.Markdown("Upload past questions (CSV / JSONL: `question`, and `document` or `answer`; optionally "
                        "`category`). *Evaluate* scores every retrieval stage on them (with K folds, also the "
                        "models trained on the other folds). *Train* builds this base's own embedder (and a "
                        "category model when the rows carry categories) from them and its FAQ entries; the "
                        "base keeps a stage only where it helps on its own questions.")
            history_files = gr.File(file_count="multiple", file_types=[".csv", ".jsonl"], label="History files")
            with gr.Row():
                folds = gr.Number(value=3, precision=0, minimum=0, maximum=10, label="folds (0 = no training)")
                with_reranker = gr.Checkbox(value=False, label="also a reranker (slower to train and to answer)")
            with gr.Row():
                evaluate_button = gr.Button("Evaluate each stage")
                train_button = gr.Button("Train this base's models", variant="primary")
            own_result = gr.Textbox(label="Result", lines=3, interactive=False)
            own_table = gr.Dataframe(headers=_OWN_HEADERS, interactive=False, label="This base's own models")
            stage_table = gr.Dataframe(headers=_STAGE_HEADERS, interactive=False, label="Last evaluation")

        chat_outputs = [chat, message, sources, info, conversation, last_answer]
        send.click(respond, inputs=[message, chat, conversation], outputs=chat_outputs, api_name="ask")
        message.submit(respond, inputs=[message, chat, conversation], outputs=chat_outputs)
        person.click(handoff, inputs=[chat, conversation], outputs=[chat, notice], api_name="handoff")
        up.click(lambda a: feedback(a, True), inputs=last_answer, outputs=notice, api_name="helpful")
        down.click(lambda a: feedback(a, False), inputs=last_answer, outputs=notice, api_name="not_helpful")
        fresh.click(new_conversation, outputs=[chat, conversation, last_answer, sources, info])
        add.click(add_documents, inputs=uploads, outputs=[admin_result, documents], api_name="add_documents")
        rebuild_button.click(rebuild, outputs=[admin_result, documents], api_name="rebuild")
        refresh_tickets.click(tickets_rows, outputs=tickets, api_name="tickets")
        own_outputs = [own_result, own_table, stage_table]
        evaluate_button.click(evaluate_own, inputs=[history_files, folds, with_reranker], outputs=own_outputs,
                              api_name="evaluate_history")
        train_button.click(train_own, inputs=[history_files, with_reranker], outputs=own_outputs,
                           api_name="train_on_history")
        demo.load(own_tables, outputs=[own_table, stage_table])
        demo.load(status_markdown, outputs=status)
        demo.load(documents_rows, outputs=documents)
        demo.load(tickets_rows, outputs=tickets)
    return demo


__getattr__ = lazy_demo(globals())  # `demo`, built on first access

if __name__ == "__main__":
    launch_standalone(globals())
