"""Grounded answers: composed only from retrieved passages, each quoted and cited as [n].

A document is untrusted input. Its text is never interpreted: it is quoted as data (between
quotation marks, after a line that says where it comes from), and :func:`answer_html` escapes
everything before it goes into HTML.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass, field

__all__ = ["Source", "Answer", "compose", "dont_know_text", "answer_html", "SMALLTALK_REPLIES", "HANDOFF_TEXT"]


@dataclass
class Source:
    path: str
    title: str
    section: str
    text: str
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Answer:
    text: str
    sources: list[Source] = field(default_factory=list)
    intent: str | None = None
    confidence: float = 0.0
    kind: str = "answer"  # answer | dont_know | smalltalk | handoff
    handed_off: bool = False
    reason: str = ""
    conversation_id: str = ""
    answer_id: str = ""
    ticket_id: int | None = None

    def to_dict(self) -> dict:
        return {"answer": self.text, "text": self.text, "sources": [s.to_dict() for s in self.sources],
                "intent": self.intent, "confidence": round(float(self.confidence), 4), "kind": self.kind,
                "handed_off": self.handed_off, "reason": self.reason, "conversation_id": self.conversation_id,
                "answer_id": self.answer_id, "ticket_id": self.ticket_id}


SMALLTALK_REPLIES = {
    "greeting": "Hello! I can answer questions about your cards, payments, transfers, top-ups and account. "
                "What can I help you with?",
    "thanks": "You're welcome. Is there anything else I can help you with?",
    "goodbye": "Goodbye, and thank you for contacting us.",
    "how_are_you": "I'm the help-centre assistant: I answer from our help articles, and I can pass you to a "
                   "person at any time. What can I help you with?",
}
HANDOFF_TEXT = ("I've passed your conversation to a member of our support team (ticket #{ticket}). "
                "They can see what we've discussed and will reply here.")


def dont_know_text(reason: str = "") -> str:
    lead = "I'm sorry, I don't know the answer to that"
    return (f"{lead}: {reason}. " if reason else f"{lead} from our help centre. ") + \
        "Would you like me to pass you to a person?"


_SPACE = re.compile(r"[ \t]+")


def _quote(text: str, limit: int) -> str:
    """The passage as a quotation: whitespace tidied, cut at a sentence end near ``limit``, with
    the quotation marks inside it neutralised so the quote cannot be closed by the document."""
    text = _SPACE.sub(" ", text.replace("\r", "")).strip().replace('"', "'")
    if len(text) > limit:
        cut = text[:limit]
        end = max(cut.rfind(". "), cut.rfind(".\n"))
        text = (cut[: end + 1] if end > limit // 2 else cut.rstrip()) + " ..."
    return text


def compose(sources: list[Source], quote_chars: int = 700) -> str:
    """The answer text: the best passage quoted and cited [1], the next ones offered as further reading."""
    if not sources:
        return dont_know_text()
    best = sources[0]
    where = best.title if not best.section or best.section == best.title else f"{best.title} > {best.section}"
    lines = [f'From our help centre ("{where}"):', f'"{_quote(best.text, quote_chars)}" [1]']
    more = [f"[{n}] {s.title}" + (f" > {s.section}" if s.section and s.section != s.title else "")
            for n, s in enumerate(sources[1:], 2)]
    if more:
        lines.append("See also: " + "; ".join(more))
    return "\n".join(lines)


def answer_html(answer: Answer) -> str:
    """The answer as safe HTML: every piece of text escaped; [n] markers link to the source list."""
    body = html.escape(answer.text, quote=True).replace("\n", "<br>")
    body = re.sub(r"\[(\d+)\]", lambda m: f'<a href="#src-{m.group(1)}">[{m.group(1)}]</a>', body)
    items = "".join(
        f'<li id="src-{n}"><b>{html.escape(s.title)}</b>'
        f"{' &gt; ' + html.escape(s.section) if s.section and s.section != s.title else ''} "
        f"<small>{html.escape(s.path)} (score {s.score:.3f})</small></li>"
        for n, s in enumerate(answer.sources, 1))
    return f"<div>{body}</div>" + (f"<ol>{items}</ol>" if items else "")
