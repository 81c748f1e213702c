"""Intent and scope: the intent classifier, small-talk and hand-off rules, follow-up detection, and
the out-of-scope decision that combines the classifier's confidence with the retrieval scores."""

from __future__ import annotations

import re

import numpy as np

__all__ = ["IntentClassifier", "smalltalk", "wants_person", "is_follow_up", "scope_score", "calibrate_threshold"]


class IntentClassifier:
    """A text-classification artifact (BANKING77 intents) behind ``core.inference``."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.labels = list(predictor.labels)

    def probabilities(self, texts: list[str]) -> list[dict[str, float]]:
        return [r["scores"] for r in self.predictor.predict(list(texts), batch_size=64)]

    def __call__(self, text: str) -> tuple[str, dict[str, float]]:
        probs = self.probabilities([text])[0]
        return max(probs, key=probs.get), probs


_GREETING = re.compile(r"^(hi+|hello+|hey+|hiya|howdy|good (morning|afternoon|evening)|greetings|yo)\b[\s!.,]*"
                       r"(there|bot|team|everyone|all)?[\s!.,]*$", re.I)
_THANKS = re.compile(r"^(thanks?( you)?( so much| very much| a lot)?|thank u|thx|ty|cheers|many thanks|"
                     r"great,? thanks?|perfect,? thanks?|that helps?|that('s| is) (great|helpful|perfect))[\s!.,]*$",
                     re.I)
_BYE = re.compile(r"^(bye+|goodbye|good bye|see (you|ya)( later)?|that('s| is) all|have a (nice|good) day|"
                  r"bye,? thanks?|thanks?,? bye)[\s!.,]*$", re.I)
_HOW_ARE_YOU = re.compile(r"^(how are you( doing)?|how('s| is) it going|are you a (bot|robot|human))[\s?!.]*$", re.I)

_PERSON = re.compile(
    r"\b(speak|talk|chat|connect|transfer|put) (me )?(to|with) (a |an |some |your )?(real |live |actual )?"
    r"(person|human|agent|someone|somebody|operator|representative|advisor|adviser|staff|people)\b|"
    r"\b(real|live|actual) (person|human|agent)\b|\bhuman (agent|being)\b|"
    r"\bi want (a|an) (person|human|agent|operator)\b|\b(customer service|support) (agent|representative)\b|"
    r"\bcall me back\b|\bescalate\b", re.I)


def smalltalk(message: str) -> str | None:
    """``greeting``, ``thanks``, ``goodbye``, ``how_are_you`` or ``None``."""
    text = message.strip()
    for name, pattern in (("greeting", _GREETING), ("thanks", _THANKS), ("goodbye", _BYE),
                          ("how_are_you", _HOW_ARE_YOU)):
        if pattern.match(text):
            return name
    return None


def wants_person(message: str) -> bool:
    return bool(_PERSON.search(message))


_FOLLOW = re.compile(r"^(and|but|also|what about|how about|what if|same|and if|or|for|in|with|on|is it|"
                     r"does (it|that|this)|can i|how long|how much|why)\b", re.I)
_PRONOUN = re.compile(r"\b(it|that|this|those|these|them|one)\b", re.I)


def is_follow_up(message: str) -> bool:
    """A short message that leans on the previous turn: 'and for a business account?', 'how much is it?'."""
    words = re.findall(r"\w+", message)
    if not words:
        return False
    if len(words) <= 8 and re.match(r"^(and|but|also|what about|how about|what if|and if|or|same)\b", message.strip(), re.I):
        return True
    if len(words) <= 3:
        return True
    return len(words) <= 6 and bool(_FOLLOW.match(message.strip())) and bool(_PRONOUN.search(message))


def scope_score(max_probability: float | None, retrieval: float | None, intent_weight: float = 0.5) -> float:
    """The in-scope score: ``intent_weight x`` the classifier's maximum probability ``+ (1 - intent_weight) x``
    the top retrieval score (reranker probability, or dense cosine), each clipped to [0, 1]; the one
    present when the other is missing."""
    if max_probability is None and retrieval is None:
        return 0.0
    if max_probability is None:
        return float(np.clip(retrieval, 0.0, 1.0))
    if retrieval is None:
        return float(np.clip(max_probability, 0.0, 1.0))
    return float(intent_weight * np.clip(max_probability, 0.0, 1.0)
                 + (1.0 - intent_weight) * np.clip(retrieval, 0.0, 1.0))


def calibrate_threshold(in_scope_scores, target_fpr: float) -> float:
    """The highest threshold that flags at most ``target_fpr`` of the in-scope scores."""
    scores = np.sort(np.asarray(list(in_scope_scores), dtype=np.float64))
    if not len(scores):
        return 0.0
    allowed = int(np.floor(target_fpr * len(scores)))  # how many may fall below the threshold
    return float(scores[allowed]) if allowed < len(scores) else float(scores[-1])
