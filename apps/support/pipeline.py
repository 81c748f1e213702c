"""The service: :class:`SupportBot` answers from a knowledge base, knows its scope, hands off to people.

Cheap constructor; :meth:`SupportBot.warm_up` loads the embedder, the knowledge base (ingesting the
seed documents on first use), the intent classifier and the reranker when their artifacts exist,
and calibrates the scope threshold on the base's own FAQ questions. :meth:`SupportBot.ask` is the
one online entry point.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from pathlib import Path

from core.artifacts import read_manifest
from core.embedding import Embedder, base_embedder_artifact
from core.errors import ConfigError, SuiteError

from .answer import HANDOFF_TEXT, SMALLTALK_REPLIES, Answer, Source, compose, dont_know_text
from .config import SAMPLE_KB, SupportConfig
from .kb import IngestReport, KnowledgeBase, display_path, passage_text
from .owndata import kb_embedder_dir, kb_model_dir, own_models
from .retrieval import Hit, Retriever
from .scope import IntentClassifier, calibrate_threshold, is_follow_up, scope_score, smalltalk, wants_person
from .store import ConversationStore

__all__ = ["SupportBot", "default_bot", "default_config", "pairs_label"]

log = logging.getLogger("ftsuite.support")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
pairs_label = ("irrelevant", "relevant")  # pair-scoring labels: the positive class sorts last
DEFAULT_THRESHOLD = 0.3  # used only when a base has too few questions to calibrate on


def _load_optional(path: Path | None, task: str, backend: str):
    """A predictor for an optional artifact, or ``(None, why)`` when it is not there or not usable."""
    from core.inference import load_predictor

    if path is None or not (path / "manifest.json").is_file():
        return None, f"not built ({path})"
    try:
        manifest = read_manifest(path)
        if manifest.get("task") != task:
            return None, f"{path} is a {manifest.get('task')} model, expected {task}"
        return load_predictor(path, backend=backend), ""
    except SuiteError as exc:
        return None, f"cannot load {path}: {exc}"


class SupportBot:
    def __init__(self, config: SupportConfig | None = None, embedder: Embedder | None = None):
        """``embedder``: an already built :class:`Embedder` to share between bots (else one from the config)."""
        self.config = config or SupportConfig()
        self._embedder = embedder
        self.kb: KnowledgeBase | None = None
        self.store: ConversationStore | None = None
        self.retriever: Retriever | None = None
        self.intents: IntentClassifier | None = None
        self.reranker = None
        self.off: dict[str, str] = {}
        self.threshold: float | None = None
        self.calibration: dict = {}
        self.tuning: dict = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ loading
    def warm_up(self) -> "SupportBot":
        with self._lock:
            if self.kb is not None:
                return self
            cfg = self.config
            embedder = self._embedder
            own = kb_embedder_dir(cfg.kb_dir())
            if (own / "manifest.json").is_file():  # trained on this base's own questions: before a shared one
                embedder = Embedder(own, backend=cfg.backend)
            if embedder is None:
                artifact = cfg.artifact(cfg.embedder)
                if artifact is None or not (artifact / "manifest.json").is_file():
                    name = cfg.embedder if "/" not in cfg.embedder and "$" not in cfg.embedder else "minilm"
                    artifact = base_embedder_artifact(name)
                embedder = Embedder(artifact, backend=cfg.backend)
            folder = cfg.kb_dir()
            kb = KnowledgeBase(folder, embedder, cfg.chunk_words, cfg.overlap_words)
            self.store = ConversationStore(folder / "conversations.sqlite")
            # a model trained on this base's own questions (apps.support.owndata) comes before the configured one
            own = own_models(folder).get("models", {})
            label_field = "intent"
            categories = kb_model_dir(folder, "categories")
            if (categories / "manifest.json").is_file():
                predictor, why = _load_optional(categories, "text_classification", cfg.backend)
                label_field = own.get("categories", {}).get("label_field", "category")
            else:
                predictor, why = _load_optional(cfg.artifact(cfg.intent_model), "text_classification", cfg.backend)
            self.intents = IntentClassifier(predictor) if predictor else None
            if why:
                self.off["intent_model"] = why
            reranker = kb_model_dir(folder, "reranker")
            self.reranker, why = _load_optional(reranker if (reranker / "manifest.json").is_file()
                                                else cfg.artifact(cfg.reranker), "pair_scoring", cfg.backend)
            if why:
                self.off["reranker"] = why
            kb.load()
            if not kb.documents() and cfg.seed_paths:
                report = kb.ingest(cfg.seed_paths)
                log.info("seeded %s: %s", folder, report.summary())
            self.retriever = Retriever(kb, self.reranker, cfg.dense_k, cfg.bm25_k, cfg.rrf_k, cfg.rerank_k,
                                       cfg.intent_prior, cfg.faq_prior, cfg.prior_temperature, cfg.intent_articles,
                                       cfg.one_per_source)
            self.retriever.label_field = label_field
            self.kb = kb
            self._adapt()
            return self

    def reload(self) -> "SupportBot":
        """Load the models again, e.g. after the base trained its own (its chunks are re-embedded once when the
        embedder changed); conversations and tickets stay."""
        with self._lock:
            if self.kb is not None:
                self.kb.close()
            self.kb, self.retriever, self.intents, self.reranker = None, None, None, None
            self.off, self.tuning, self.calibration, self.threshold = {}, {}, {}, None
            return self.warm_up()

    def _adapt(self) -> None:
        """Retrieval settings, then the scope threshold, for the base as it is now."""
        self._tune()
        self._calibrate()

    def _tune(self) -> None:
        """The retrieval mode chosen on the base's own questions (cached until the base or the models change)."""
        from .retrieval import EQUAL
        from .tuning import tune_retrieval

        cfg, r = self.config, self.retriever
        r.weights, r.intent_prior, r.use_reranker = EQUAL, cfg.intent_prior, True
        if not cfg.tune_retrieval:
            self.tuning = {"source": "config (tune_retrieval = false)", "chosen": None}
            return
        key = {"models": self._models_key(), "generation": self.kb.generation(), "version": 2,
               "settings": [cfg.dense_k, cfg.bm25_k, cfg.rrf_k, cfg.rerank_k, cfg.intent_prior, cfg.faq_prior,
                            cfg.prior_temperature, cfg.intent_articles, cfg.one_per_source]}
        cached = self.kb.get_meta("retrieval_tuning")
        if not (cached and cached.get("key") == key):
            cached = {"key": key, **tune_retrieval(r, self.intents)}
            self.kb.set_meta("retrieval_tuning", cached)
        self.tuning = cached
        chosen = cached.get("chosen")
        if chosen:
            r.weights = (chosen["dense"], chosen["bm25"])
            r.intent_prior = cfg.intent_prior if chosen["prior"] else 0.0
            r.use_reranker = chosen["rerank"]

    def _models_key(self) -> str:
        parts = [str(self.kb.embedder.artifact)]
        for predictor in (self.intents.predictor if self.intents else None, self.reranker):
            if predictor is not None:
                parts.append(f"{predictor.artifact}@{predictor.manifest.get('created_at')}/{predictor.precision}")
        return "|".join(parts)

    def _calibrate(self) -> None:
        """Scope threshold = the score that flags at most ``target_fpr`` of the base's own FAQ questions
        (each asked with its own FAQ entry left out); cached until the base or the models change."""
        cfg = self.config
        if cfg.scope_threshold is not None:
            self.threshold = cfg.scope_threshold
            self.calibration = {"source": "config", "threshold": self.threshold}
            return
        key = {"models": self._models_key(), "generation": self.kb.generation(), "target_fpr": cfg.target_fpr,
               "intent_weight": cfg.intent_weight, "scope_retrieval": cfg.scope_retrieval,
               "retrieval": [cfg.rerank_k, cfg.intent_prior, cfg.faq_prior, cfg.prior_temperature,
                             cfg.intent_articles, cfg.one_per_source, self.tuning.get("name")]}
        cached = self.kb.get_meta("calibration")
        if cached and cached.get("key") == key:
            self.calibration = cached
            self.threshold = cached["threshold"]
            return
        questions = [(c.section, c.id) for c in self.kb.chunks.values()
                     if c.title.startswith("FAQ (") and c.section]
        source = "FAQ questions"
        if len(questions) < 10:  # no FAQ: the section headings stand in for questions
            questions = [(c.section, c.id) for c in self.kb.chunks.values() if c.section and c.section != c.title]
            source = "section headings"
        if len(questions) < 10:
            self.threshold = DEFAULT_THRESHOLD
            self.calibration = {"source": f"default (only {len(questions)} questions to calibrate on)",
                                "threshold": self.threshold}
            return
        scores = [self._scope(q, exclude={cid})[0] for q, cid in questions]
        self.threshold = calibrate_threshold(scores, cfg.target_fpr)
        self.calibration = {"key": key, "threshold": self.threshold, "source": source, "n": len(scores),
                            "target_fpr": cfg.target_fpr}
        self.kb.set_meta("calibration", self.calibration)

    def _refresh(self) -> None:
        """Pick up changes another process (or the admin view) made to the base while serving."""
        generation = self.kb.generation()
        if generation != self.kb.loaded_generation:
            self.kb.load()
            self._adapt()

    # ------------------------------------------------------------------ scoring
    def _scope(self, query: str, exclude: set[int] | None = None):
        """``(scope score, hits, intent label, intent probabilities)`` for one query."""
        label, probs = (self.intents(query) if self.intents else (None, None))
        hits = self.retriever.search(query, probs)
        if exclude:
            hits = [h for h in hits if h.chunk.id not in exclude]
        retrieval = None
        if hits:
            if self.reranker is not None and self.config.scope_retrieval == "reranker":
                retrieval = max(h.scores.get("rerank", 0.0) for h in hits)
            else:
                retrieval = max((h.scores.get("dense") or 0.0) for h in hits)
        p_max = max(probs.values()) if probs else None
        return scope_score(p_max, retrieval, self.config.intent_weight), hits, label, probs

    # ------------------------------------------------------------------ online
    def ask(self, message, conversation_id: str | None = None) -> Answer:
        """Answer one customer message. Never raises on bad input: it answers with the reason."""
        self.warm_up()
        conversation_id = str(conversation_id) if conversation_id else uuid.uuid4().hex[:16]
        answer_id = uuid.uuid4().hex[:16]
        text, problem = self._clean(message)
        with self._lock:
            self._refresh()
            if problem and not text:
                answer = Answer(dont_know_text(problem), kind="dont_know", reason=problem,
                                conversation_id=conversation_id, answer_id=answer_id)
                self.store.add_answer(answer, str(message)[:200], "")
                return answer
            history = self.store.history(conversation_id, self.config.history_turns * 2)
            if wants_person(text):
                self.store.add_turn(conversation_id, "user", text, None, answer_id)
                ticket = self.handoff(conversation_id, "customer asked for a person")
                answer = Answer(HANDOFF_TEXT.format(ticket=ticket), kind="handoff", handed_off=True,
                                reason="customer asked for a person", conversation_id=conversation_id,
                                answer_id=answer_id, ticket_id=ticket, confidence=1.0)
                self._record(answer, text, None)
                return answer
            chat = smalltalk(text)
            if chat:
                self.store.add_turn(conversation_id, "user", text, None, answer_id)
                answer = Answer(SMALLTALK_REPLIES[chat], kind="smalltalk", reason=chat, confidence=1.0,
                                conversation_id=conversation_id, answer_id=answer_id)
                self._record(answer, text, None)
                return answer
            query, followed = text, False
            previous = next((t for t in reversed(history) if t["role"] == "user" and t["query"]), None)
            if previous and is_follow_up(text):
                query, followed = f"{previous['query']} {text}", True
            self.store.add_turn(conversation_id, "user", text, query, answer_id)
            score, hits, label, _ = self._scope(query)
            sources = [self._source(h) for h in hits[: self.config.top_k]]  # all ranked; the text cites cite_k
            reasons = [problem] if problem else []
            if followed:
                reasons.append("follow-up read with the previous question")
            if score >= self.threshold and sources:
                intent = label or hits[0].chunk.intent
                answer = Answer(compose(sources[: self.config.cite_k]), sources, intent, score, "answer", False,
                                "; ".join(reasons), conversation_id, answer_id)
            else:
                reasons.insert(0, f"support too weak (score {score:.3f} < threshold {self.threshold:.3f})")
                answer = Answer(dont_know_text(), sources, None, score, "dont_know", False, "; ".join(reasons),
                                conversation_id, answer_id)
            self._record(answer, text, query)
            return answer

    def _record(self, answer: Answer, question: str, query: str | None) -> None:
        self.store.add_answer(answer, question, query or "")
        self.store.add_turn(answer.conversation_id, "assistant", answer.text, None, answer.answer_id)

    def _clean(self, message) -> tuple[str, str]:
        """``(text, problem)``: bytes decoded, control characters dropped, long messages cut."""
        if isinstance(message, (bytes, bytearray)):
            try:
                message = bytes(message).decode("utf-8")
            except UnicodeDecodeError:
                return "", "the message is not UTF-8 text"
        if not isinstance(message, str):
            return "", f"the message is not text (got {type(message).__name__})"
        text = " ".join(_CONTROL.sub(" ", message).split())
        if not text:
            return "", "the message is empty"
        if not re.search(r"\w", text):
            return "", "the message has no words"
        limit = self.config.max_message_chars
        if len(text) > limit:
            return text[:limit], f"the message was cut to its first {limit} characters"
        return text, ""

    @staticmethod
    def _source(hit: Hit) -> Source:
        c = hit.chunk
        return Source(c.path, c.title, c.section, c.text, round(float(hit.score), 4))

    # ------------------------------------------------------------------ hand-off and feedback
    def handoff(self, conversation_id: str, reason: str) -> int:
        """Open a ticket with the transcript, the last detected intent and the last sources."""
        self.warm_up()
        if not conversation_id or not str(conversation_id).strip():
            raise ConfigError("handoff needs the conversation id of the chat to hand over")
        with self._lock:
            history = self.store.history(str(conversation_id), 500)
            answers = [self.store.answer(t["answer_id"]) for t in history if t["role"] == "assistant"]
            answers = [a for a in answers if a]
            last = next((a for a in reversed(answers) if a["kind"] in ("answer", "dont_know")), None)
            transcript = [{"role": t["role"], "text": t["text"], "at": t["at"]} for t in history]
            ticket = self.store.add_ticket(str(conversation_id), reason or "hand-off requested",
                                           last["intent"] if last else None, transcript,
                                           json.loads(last["sources"]) if last else [])
            self.store.add_turn(str(conversation_id), "system", f"handed off to a person (ticket #{ticket}): {reason}")
            return ticket

    def tickets(self) -> list[dict]:
        self.warm_up()
        return self.store.tickets()

    def resolve(self, ticket_id: int, document: str) -> str:
        """A person resolved a hand-off ticket with ``document`` (its key, file name or title in the base): the
        customer's question and that document become a training pair of the base's own models. Returns the key."""
        from .owndata import find_document

        self.warm_up()
        if not any(t["id"] == int(ticket_id) for t in self.store.tickets()):
            raise ConfigError(f"no ticket #{ticket_id}; `ftsuite support tickets` lists them")
        key, why = find_document(self.kb.chunks, document)
        if key is None:
            raise ConfigError(f"document {document!r} {why}; `ftsuite support ingest --list` lists the base's documents")
        self.store.resolve_ticket(int(ticket_id), key)
        return key

    def feedback(self, answer_id: str, helpful: bool) -> None:
        self.warm_up()
        if not self.store.answer(str(answer_id)):
            raise ConfigError(f"no answer with id {answer_id!r}; use the answer_id of an Answer this bot gave")
        self.store.add_feedback(str(answer_id), bool(helpful))

    def feedback_pairs(self) -> list[dict]:
        """Thumbs up / down as reranker training pairs: (query, top source passage, relevant/irrelevant)."""
        self.warm_up()
        rows = []
        for f in self.store.feedback():
            sources = json.loads(f["sources"] or "[]")
            if not f["query"] or not sources or f["kind"] not in ("answer", "dont_know"):
                continue
            s = sources[0]
            rows.append({"text": f["query"], "pair": passage_text(s["title"], s["section"], s["text"]),
                         "label": pairs_label[int(f["helpful"])]})
        return rows

    # ------------------------------------------------------------------ admin
    def ingest(self, paths, keys: dict[str, str] | None = None) -> IngestReport:
        """Add documents (see :meth:`KnowledgeBase.ingest`), then adapt retrieval and scope to the base."""
        self.warm_up()
        with self._lock:
            report = self.kb.ingest([paths] if isinstance(paths, (str, Path)) else list(paths), keys)
            self._adapt()
            return report

    def remove(self, path) -> bool:
        self.warm_up()
        with self._lock:
            removed = self.kb.remove(str(path) if isinstance(path, str) else display_path(path))
            if removed:
                self._adapt()
            return removed

    def documents(self) -> list[dict]:
        self.warm_up()
        return self.kb.documents()

    def rebuild(self) -> IngestReport:
        self.warm_up()
        with self._lock:
            report = self.kb.rebuild()
            self._adapt()
            return report

    def status(self) -> dict:
        self.warm_up()

        def describe(predictor):
            return predictor.describe() if predictor is not None else None

        return {
            "kb": str(self.config.kb), "folder": str(self.kb.folder), "documents": len(self.kb.documents()),
            "chunks": len(self.kb.chunks), "generation": self.kb.generation(),
            "embedder": describe(self.kb.embedder.predictor),
            "embedder_trained_on_this_base": (Path(self.kb.embedder.artifact).resolve()
                                              == kb_embedder_dir(self.kb.folder).resolve()),
            "own_models": self.own_models_status(),
            "intent_model": describe(self.intents.predictor if self.intents else None),
            "reranker": describe(self.reranker),
            "intent_model_present": self.intents is not None, "reranker_present": self.reranker is not None,
            "off": dict(self.off), "generator": "off (not part of this build)",
            "scope": {"threshold": self.threshold, **{k: v for k, v in self.calibration.items() if k != "key"},
                      "signals": [s for s, on in (("intent max probability", self.intents is not None),
                                                  ("reranker probability", self.reranker is not None
                                                   and self.config.scope_retrieval == "reranker"),
                                                  ("dense cosine", self.reranker is None
                                                   or self.config.scope_retrieval == "dense")) if on]},
            "retrieval": self.retrieval_status(),
            "repairs": list(self.kb.repairs), **self.store.counts(),
        }

    def own_models_status(self) -> dict:
        """Which of the models this base trained on its own questions it uses (and when they were trained)."""
        record = own_models(self.kb.folder)
        in_use = {"embedder": Path(self.kb.embedder.artifact).resolve() == kb_embedder_dir(self.kb.folder).resolve(),
                  "categories": bool(self.intents) and Path(self.intents.predictor.artifact).resolve()
                  == kb_model_dir(self.kb.folder, "categories").resolve(),
                  "reranker": bool(self.reranker) and Path(self.reranker.artifact).resolve()
                  == kb_model_dir(self.kb.folder, "reranker").resolve()}
        return {"in_use": [k for k, v in in_use.items() if v], "trained_at": record.get("trained_at"),
                "pairs": record.get("pairs"), "not_trained": record.get("not_trained", {})}

    def retrieval_status(self) -> dict:
        """The retrieval mode in use, where it was chosen, and the stages it switched off."""
        t = self.tuning or {}
        chosen = t.get("chosen")
        out = {"mode": t.get("name") or "configured (equal-weight fusion, intent prior, reranker when built)",
               "chosen_on": t.get("source"), "recall_at_1": t.get("recall_at_1"), "mrr_at_10": t.get("mrr_at_10"),
               "best_plain_search_recall_at_1": t.get("best_plain_search_recall_at_1")}
        if chosen:
            off = []
            if not chosen["bm25"]:
                off.append("BM25 (did not help on this base's questions)")
            if not chosen["dense"]:
                off.append("dense retrieval (did not help on this base's questions)")
            if self.intents is not None and not chosen["prior"]:
                known = {self.retriever.label(c) for c in self.kb.chunks.values()} & set(self.intents.labels)
                off.append("intent prior (" + ("did not help on this base's questions" if known
                                               else "the intent model knows none of this base's intents") + ")")
            if self.reranker is not None and not chosen["rerank"]:
                off.append("reranker (did not help on this base's questions)")
            out["switched_off"] = off
        return out

    # ------------------------------------------------------------------ evaluation helpers
    def search(self, query: str, stage: str = "full") -> list[Hit]:
        """Ranked hits of one retrieval stage: dense, bm25, fused, rerank, full (rerank + intent prior)."""
        self.warm_up()
        r = self.retriever
        if stage == "dense":
            return [Hit(self.kb.chunks[i], s, {"dense": s}) for i, s in r.dense(query) if i in self.kb.chunks]
        if stage == "bm25":
            return [Hit(self.kb.chunks[i], s, {"bm25": s}) for i, s in r.lexical(query) if i in self.kb.chunks]
        if stage == "fused":  # the classic equal-weight fusion, whatever the base's tuned mode
            from .retrieval import EQUAL

            return r.fused(query, weights=EQUAL)
        probs = self.intents(query)[1] if (stage in ("full", "fused+prior") and self.intents) else None
        return r.search(query, probs, rerank=stage != "fused+prior")


def default_config(**changes) -> SupportConfig:
    seeds = [str(SAMPLE_KB / p) for p in ("articles", "policies", "pages", "faq.csv")]
    return SupportConfig(**{"kb": "default", "seed_paths": seeds, **changes})


def default_bot(**changes) -> SupportBot:
    """The sample help centre's bot (FTSUITE_HOME/support/default, seeded on first warm_up)."""
    return SupportBot(default_config(**changes))
