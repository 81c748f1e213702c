"""``ftsuite support ...``: ingest, ask, chat, eval, tickets, train (the reranker), train-embedder."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("support", help="customer-support chatbot over a knowledge base (ingest, ask, chat, eval, "
                                       "tickets, train, train-embedder)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def kb_option(a):
        a.add_argument("--kb", default="default",
                       help="knowledge base: a name under FTSUITE_HOME/support/ or a folder (default: the sample "
                            "help centre)")

    a = actions.add_parser("ingest", help="add or replace documents (.md .txt .html .pdf .docx .pptx .xlsx, FAQ .csv "
                                          ".jsonl, folders)")
    a.add_argument("paths", nargs="*", help="files or folders")
    a.add_argument("--remove", action="append", default=[], metavar="PATH", help="remove a document")
    a.add_argument("--rebuild", action="store_true", help="re-embed every chunk and rebuild the indexes")
    a.add_argument("--list", action="store_true", help="list the documents afterwards")
    kb_option(a)
    a = actions.add_parser("ask", help="answer one question (or one per line of --input)")
    a.add_argument("question", nargs="?")
    a.add_argument("--input", help="file with one question per line; answers in input order")
    a.add_argument("--json", action="store_true", help="one JSON object per answer (JSONL for --input)")
    a.add_argument("--conversation", help="conversation id (follow-ups read the previous turns)")
    kb_option(a)
    a = actions.add_parser("chat", help="chat in the terminal (Ctrl-D or 'quit' ends; '/person' hands off)")
    kb_option(a)
    a = actions.add_parser("eval", help="retrieval, intent and out-of-scope metrics on BANKING77 / CLINC150 / HWU64")
    a.add_argument("--limit", type=int, default=0, help="first N queries of a stratified order (0 = all)")
    a.add_argument("--history", action="append", default=[], metavar="FILE",
                   help="your own past questions (CSV / JSONL: question + document or answer): each stage's "
                        "Recall@1/5/10 and MRR@10 on them, instead of BANKING77")
    a.add_argument("--folds", type=int, default=0, help="with --history: also the base's own models (embedder, "
                                                         "category model) trained on K-1 folds, scored on the held-out one")
    a.add_argument("--reranker", action="store_true", help="with --folds: a reranker trained per fold too (slower)")
    kb_option(a)
    a = actions.add_parser("tickets", help="list hand-off tickets")
    a.add_argument("--json", action="store_true")
    kb_option(a)
    a = actions.add_parser("resolve", help="mark a hand-off ticket resolved by a document of the base (the "
                                           "customer's question and it then train the base's own models)")
    a.add_argument("ticket", type=int)
    a.add_argument("document", help="the document's key, file name or title (`ingest --list` shows them)")
    kb_option(a)
    a = actions.add_parser("status", help="models in use, counts, scope threshold")
    kb_option(a)
    a = actions.add_parser("train", help="with --history (or --kb): the base's own models from your past questions "
                                         "and its FAQ (embedder with hard negatives, category model when they carry "
                                         "categories, --reranker); without: the reranker (BANKING77 train x the "
                                         "sample help centre)")
    a.add_argument("--history", action="append", default=[], metavar="FILE")
    a.add_argument("--steps", type=int, help="training steps per model (default: from the number of pairs)")
    a.add_argument("--reranker", action="store_true", help="also a cross-encoder reranker on the pairs and their "
                                                           "hard negatives (adds latency; the base keeps it only "
                                                           "where it helps on its own questions)")
    kb_option(a)
    a.add_argument("--per-intent", type=int, default=15)
    a.add_argument("--negatives", type=int, default=2)
    a.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    a = actions.add_parser("train-embedder", help="fine-tune the embedder (BANKING77 train queries -> the chunk of "
                                                  "their intent's article; in-batch negatives)")
    a.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=run_command)


def _bot(args):
    from .config import SupportConfig
    from .pipeline import SupportBot, default_bot

    if args.kb == "default":
        return default_bot()
    return SupportBot(SupportConfig(kb=args.kb))


def _print_answer(answer, as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        return
    print(answer.text)
    for n, s in enumerate(answer.sources, 1):
        section = f" > {s.section}" if s.section and s.section != s.title else ""
        print(f"  [{n}] {s.title}{section}  ({s.path}, score {s.score:.3f})")
    print(f"  intent {answer.intent or '-'}, confidence {answer.confidence:.3f}, {answer.kind}"
          + (f" ({answer.reason})" if answer.reason else ""), flush=True)


def run_command(args) -> int:
    if args.action == "train":
        from .train import train_reranker

        train_reranker(overrides=args.set, per_intent=args.per_intent, negatives=args.negatives)
        return 0
    if args.action == "train-embedder":
        from .train import train_embedder

        train_embedder(overrides=args.set)
        return 0
    if args.action == "eval" and args.history:
        from .owndata import evaluate_stages, format_stages

        print(format_stages(evaluate_stages(_bot(args), args.history, folds=args.folds, reranker=args.reranker)))
        return 0
    if args.action == "train" and (args.history or args.kb != "default"):
        from .owndata import train_on_history

        result = train_on_history(_bot(args), args.history, steps=args.steps, reranker=args.reranker,
                                  progress=lambda fraction, stage: print(f"[{fraction:4.0%}] {stage}", flush=True))
        print(json.dumps(result, indent=2))
        print("the base uses them from now on (its chunks are re-embedded once on the next start)")
        return 0
    if args.action == "eval":
        from .evaluate import evaluate, format_results

        results = evaluate(_bot(args), limit=args.limit)
        print(format_results(results))
        return 0
    bot = _bot(args).warm_up()
    if args.action == "ingest":
        if args.rebuild:
            print(bot.rebuild().summary())
        if args.paths:
            report = bot.ingest(args.paths)
            print(report.summary())
        for path in args.remove:
            print(f"removed {path}" if bot.remove(path) else f"not in the base: {path}")
        if args.list or not (args.paths or args.remove or args.rebuild):
            for d in bot.documents():
                print(f"{d['path']}  ({d['kind']}, {d['n_chunks']} chunks)  {d['title']}")
        return 0
    if args.action == "ask":
        if args.input:
            path = Path(args.input)
            if not path.is_file():
                print(f"error: --input {path} not found", file=sys.stderr)
                return 2
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError as exc:
                print(f"error: {path} is not UTF-8 text (byte {exc.start}); re-save it as UTF-8", file=sys.stderr)
                return 2
            for line in lines:  # a blank line still gets its (dont_know) answer: output stays in input order
                _print_answer(bot.ask(line, args.conversation), args.json)
            return 0
        if args.question is None:
            print("error: give a question or --input FILE", file=sys.stderr)
            return 2
        _print_answer(bot.ask(args.question, args.conversation), args.json)
        return 0
    if args.action == "chat":
        import uuid

        conversation = uuid.uuid4().hex[:16]
        print(f"conversation {conversation}; 'quit' or Ctrl-D ends, '/person' hands you to a person, "
              "'/good' or '/bad' rates the last answer")
        last = None
        while True:
            try:
                message = input("you> ")
            except (EOFError, KeyboardInterrupt):
                print()
                break
            if message.strip().lower() in ("quit", "exit"):
                break
            if message.strip() == "/person":
                print(f"bot> ticket #{bot.handoff(conversation, 'customer pressed hand-off')} opened")
                continue
            if message.strip() in ("/good", "/bad") and last:
                bot.feedback(last.answer_id, message.strip() == "/good")
                print("bot> thanks for the feedback")
                continue
            last = bot.ask(message, conversation)
            print("bot> ", end="")
            _print_answer(last, False)
        return 0
    if args.action == "tickets":
        tickets = bot.tickets()
        if args.json:
            print(json.dumps(tickets, indent=2, ensure_ascii=False))
            return 0
        import datetime as dt

        for t in tickets:
            when = dt.datetime.fromtimestamp(t["created_at"], tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
            first = next((x["text"] for x in t["transcript"] if x["role"] == "user"), "")
            print(f"#{t['id']:<4} {when} {t['status']:6} intent {t['intent'] or '-':28} {t['reason']}  "
                  f"| {first[:60]}")
        if not tickets:
            print("no tickets")
        return 0
    if args.action == "resolve":
        print(f"ticket #{args.ticket} resolved by {bot.resolve(args.ticket, args.document)}")
        return 0
    if args.action == "status":
        print(json.dumps(bot.status(), indent=2, default=str))
        return 0
    return 2
