"""The recommender service: ``Recommender(folder).warm_up()`` then ``recommend_user``,
``recommend_from_items``, ``recommend_text``, ``similar`` and ``new_item_audience``.

A folder is what ``ftsuite recommend train`` writes (:func:`apps.recommender.train.build`):
the catalogue and interactions as CSV, ``recommender.json`` (settings, interest model) and the
ranker's training table. The constructor only remembers the folder; ``warm_up`` loads the data,
the text vectors and the models (seconds). Every answer is a list of rows
``{"item_id", "title", "score", "explanation", "genres"}``, items the user has seen excluded.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from core.config import expand_path, ftsuite_home
from core.embedding import Embedder
from core.errors import ModelNotFoundError, SuiteError

from .coldstart import ColdSettings, content_features, fit_cold_model
from .config import RecommenderConfig
from .data import _YEAR_IN_TITLE, load_csv_dataset
from .interest import InterestModel, history_text, item_vectors
from .ranker import HybridModel, Ranker, Signals, UserState, fit_hybrid, user_histories

__all__ = ["Recommender", "default_folder", "interest_artifact"]

MAX_QUERY_CHARS = 1000


def default_folder(name: str = "ml-100k") -> Path:
    return ftsuite_home() / "recommender" / name


def interest_artifact(stored: str) -> Path:
    """The interest model a recommender.json names. Folders built before paths were stored as
    ``${FTSUITE_HOME}/...`` hold a path relative to the directory they were built from; those are
    looked up under the current home by name."""
    path = expand_path(stored)
    if not (path / "manifest.json").is_file() and not Path(str(stored)).is_absolute():
        moved = ftsuite_home() / "artifacts" / path.name
        if (moved / "manifest.json").is_file():
            return moved
    return path


class Recommender:
    """One built recommender; cheap to construct, ``warm_up()`` loads it."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder else default_folder()
        self._ready = False

    # ------------------------------------------------------------------ loading
    def warm_up(self) -> "Recommender":
        if self._ready:
            return self
        meta_path = self.folder / "recommender.json"
        if not meta_path.is_file():
            raise ModelNotFoundError(f"no recommender at {self.folder}. Fix: ftsuite data fetch ml-100k && "
                                     "ftsuite recommend train (or --output to choose the folder)")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        self.config = RecommenderConfig.from_dict(self.meta["config"])
        self.catalogue, self.interactions, self.load_report = load_csv_dataset(
            self.folder / "data" / "items.csv", self.folder / "data" / "interactions.csv",
            (self.config.rating_min, self.config.rating_max))
        inter = self.interactions
        positive = inter.ratings >= self.config.threshold
        from .split import _subset

        self.positives = _subset(inter, positive)
        self.histories = user_histories(self.positives)
        self.seen = user_histories(inter)
        self.embedder = Embedder.from_base(self.config.base)
        self.text_vectors = item_vectors(self.catalogue, self.embedder)
        self.interest = None
        interest_items = None
        self.user_interest: dict = {}
        if self.meta.get("interest_model"):
            self.interest = InterestModel(interest_artifact(self.meta["interest_model"]))
            interest_items = self.interest.item_vectors(self.catalogue)
            self.user_interest = self.interest.user_vectors(self.catalogue, self.histories)
        signals = Signals(self.catalogue, self.positives, self.text_vectors, interest_items, self.config.ease_l2,
                          self.config.knn_k, candidates_per_source=self.config.candidates_per_source)
        ranker_path = self.folder / "ranker.npz"
        cold_path = self.folder / "cold.json"
        if ranker_path.is_file():
            if cold_path.is_file():
                cold = ColdSettings.load(cold_path)
            else:  # a folder built before the cold-start mapping: choose its settings now
                cold = fit_cold_model(signals.content(), self.text_vectors, self.positives, len(self.catalogue),
                                      self.config.ease_l2)
            self.ranker_model = HybridModel(signals, Ranker.load(ranker_path), cold, self.config.cold_candidates)
        else:
            interest = None
            if self.interest is not None:
                interest = (interest_items, lambda hist: self.interest.user_vectors(self.catalogue, hist))
            params = {"max_iter": self.config.ranker_iterations, "learning_rate": self.config.ranker_learning_rate,
                      "max_leaf_nodes": self.config.ranker_max_leaf_nodes,
                      "min_samples_leaf": self.config.ranker_min_samples_leaf, "seed": self.config.seed}
            fitted = fit_hybrid(self.catalogue, self.positives, self.text_vectors, interest, self.config.ease_l2,
                                self.config.knn_k, params)
            self.ranker_model = HybridModel(signals, fitted.ranker, fitted.cold_settings,
                                            self.config.cold_candidates)
        self._popular_tags = None
        self._ready = True
        return self

    def status(self) -> dict:
        """What is loaded: sizes, and how the interest model serves (int8, or fp32 and why)."""
        from core.inference import serving_note

        self.warm_up()
        return {"name": self.meta.get("name"), "items": self.meta.get("items"), "users": self.meta.get("users"),
                "folder": str(self.folder),
                "interest_model": (f"{self.interest.artifact.name}: {serving_note(self.interest.embedder.predictor)}"
                                   if self.interest else "off")}

    # ------------------------------------------------------------------ lookups
    def user_ids(self) -> list[str]:
        self.warm_up()
        return [self.interactions.user_ids[u] for u in sorted(self.seen)]

    def resolve_item(self, query) -> int:
        """An item position from an id or a title; unknown gives a message with suggestions."""
        self.warm_up()
        text = str(query).strip()
        if not text:
            raise SuiteError("an item id or title is empty")
        found = self.catalogue.find(text)
        if found is None:
            hints = [self.catalogue.label(i) for i in self.catalogue.search_titles(
                text.split(" (")[0])]
            hint = f" Did you mean: {'; '.join(hints)}?" if hints else " Give an item id or an exact title."
            raise SuiteError(f"unknown item {text!r}.{hint}")
        return found

    def history(self, user_id: str, limit: int = 20) -> list[dict]:
        """The user's most recent liked items, newest first."""
        u = self._user(user_id)
        items = self.histories.get(u, (np.zeros(0, np.int64), None))[0]
        return [self._row(int(i), None, "") for i in list(items)[::-1][:limit]]

    def _user(self, user_id) -> int:
        self.warm_up()
        key = str(user_id).strip()
        if key not in self.interactions.user_index:
            sample = ", ".join(self.interactions.user_ids[:5])
            raise SuiteError(f"unknown user {key!r} (known ids look like {sample}). For someone new use "
                             "recommend_from_items (ftsuite recommend from ...) or recommend_text")
        return self.interactions.user_index[key]

    # ------------------------------------------------------------------ answers
    def recommend_user(self, user_id, k: int = 10) -> list[dict]:
        u = self._user(user_id)
        k = _check_k(k)
        items, times = self.histories.get(u, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        seen = self.seen[u][0] if u in self.seen else np.zeros(0, np.int64)
        state = UserState(items, int(times[-1]) if len(times) else None,
                          interest_vector=self.user_interest.get(u))
        if not len(items):
            rows = self._rank(state, k, seen)
            for row in rows:
                row["explanation"] = "popular now (this user has no liked items yet) · " + row["explanation"]
            return rows
        return self._rank(state, k, seen)

    def recommend_from_items(self, items, k: int = 10) -> list[dict]:
        """Cold-start user: a few liked items (ids or titles, oldest first)."""
        if isinstance(items, str):
            items = [items]
        items = [i for i in (items or []) if str(i).strip()]
        if not items:
            raise SuiteError("give at least one liked item (an id or a title)")
        problems, positions = [], []
        for query in items:
            try:
                positions.append(self.resolve_item(query))
            except SuiteError as exc:
                problems.append(str(exc))
        if problems:
            raise SuiteError("\n".join(problems))
        positions = list(dict.fromkeys(positions))
        history = np.asarray(positions, np.int64)
        vector = self.interest.encode_query(history_text(self.catalogue, history)) if self.interest else None
        return self._rank(UserState(history, None, interest_vector=vector), _check_k(k), history)

    def recommend_text(self, text: str, k: int = 10) -> list[dict]:
        """Cold-start user from a sentence ("slow-burning sci-fi with a twist")."""
        self.warm_up()
        text = (text or "").strip()
        if not text:
            raise SuiteError("describe what you would like to watch (the text is empty)")
        if len(text) > MAX_QUERY_CHARS:
            raise SuiteError(f"the description is {len(text)} characters; keep it under {MAX_QUERY_CHARS}")
        query = self.embedder.encode([text])[0]
        vector = self.interest.encode_query(f"liked: {text}") if self.interest else None
        genres = self.ranker_model.signals.genres_named(text)
        return self._rank(UserState(np.zeros(0, np.int64), None, query_vector=query, interest_vector=vector,
                                    query_genres=genres), _check_k(k), None, query_text=text)

    def similar(self, item, k: int = 10) -> list[dict]:
        """Items like ``item``: text similarity (faiss) blended with item-kNN co-occurrence."""
        i = self.resolve_item(item)
        k = _check_k(k)
        signals = self.ranker_model.signals
        text = signals.text.embeddings @ signals.text.embeddings[i]
        co = np.asarray(signals.knn.similarity[i].todense()).ravel()
        score = 0.5 * text + 0.5 * (co / co.max() if co.max() > 0 else co)
        score[i] = -np.inf
        top = np.argsort(-score, kind="stable")[:k]
        shared = set(self.catalogue.genres[i])
        rows = []
        for j in top:
            genres = [g for g in self.catalogue.genres[j] if g in shared]
            why = f"similar to {self.catalogue.label(i)}"
            why += f" · shared genres: {', '.join(genres)}" if genres else ""
            if co[j] > 0:
                why += " · liked by the same people"
            rows.append(self._row(int(j), float(score[j]), why))
        return rows

    def new_item_audience(self, title: str, genres=(), description: str = "", k: int = 10,
                          year: int | None = None) -> list[dict]:
        """Item cold start: the users most likely to like an item nobody has rated.

        The item's content (text vector, genres, year) goes through the cold-start mapping
        learned on the warm items (its EASE score predicted for each user, blended with text
        similarity to the user's profile): the same scores ``recommend_user`` gives new items.
        """
        self.warm_up()
        title = (title or "").strip()
        if not title:
            raise SuiteError("a new item needs a title")
        if len(title) + len(description or "") > MAX_QUERY_CHARS:
            raise SuiteError(f"the title and description are over {MAX_QUERY_CHARS} characters; shorten them")
        signals = self.ranker_model.signals
        genres = [g.strip() for g in (genres or []) if g and g.strip()]
        known = {g.casefold(): j for j, g in enumerate(signals.genre_names)}
        unknown = [g for g in genres if g.casefold() not in known]
        if unknown:
            raise SuiteError(f"unknown genre(s) {', '.join(unknown)}; known: {', '.join(signals.genre_names)}")
        match = _YEAR_IN_TITLE.match(title)
        if year is None and match:
            title, year = match.group(1), int(match.group(2))
        label = f"{title} ({year})" if year else title
        text = f"{label}. " + (f"Genres: {', '.join(genres)}. " if genres else "") + (description or "").strip()
        vector = self.embedder.encode([text.strip()])[0]
        genre_row = np.zeros((1, signals.genres.shape[1]), np.float32)
        for g in genres:
            genre_row[0, known[g.casefold()]] = 1.0
        years = np.array([float(year) if year else signals.year_stats[0]], np.float32)
        features = content_features(vector[None, :], genre_row, years, signals.year_stats)[0]
        users = sorted(u for u, (items, _) in self.histories.items() if len(items))
        scores = self.ranker_model.audience(features, vector, users, self.histories)
        top = np.argsort(-scores, kind="stable")[:_check_k(k)]
        return [{"user": self.interactions.user_ids[users[j]], "score": round(float(scores[j]), 4),
                 "recent": [self.catalogue.label(int(i)) for i in self.histories[users[j]][0][-3:][::-1]]}
                for j in top]

    # ------------------------------------------------------------------ internals
    def _rank(self, state: UserState, k: int, exclude, query_text: str | None = None) -> list[dict]:
        items, scores, _, _ = self.ranker_model.rank(state, k, exclude)
        return [self._row(int(i), float(s), self._explain(state, int(i), query_text)) for i, s in zip(items, scores)]

    def _row(self, i: int, score: float | None, explanation: str) -> dict:
        return {"item_id": self.catalogue.ids[i], "title": self.catalogue.label(i),
                "score": None if score is None else round(score, 4), "explanation": explanation,
                "genres": list(self.catalogue.genres[i])}

    def _explain(self, state: UserState, i: int, query_text: str | None) -> str:
        """"because you liked X" (the history item closest to ``i``) and the matched genres/tags."""
        signals = self.ranker_model.signals
        history = np.asarray(state.items, np.int64)
        parts = []
        if len(history):
            recent = history[-50:]
            co = np.asarray(signals.knn.similarity[recent][:, i].todense()).ravel()
            text = signals.text.embeddings[recent] @ signals.text.embeddings[i]
            best = int(recent[int(np.argmax(co + 0.3 * text))])
            parts.append(f"because you liked {self.catalogue.label(best)}")
            counts = Counter(g for h in history for g in self.catalogue.genres[h])
            liked_tags = Counter(t for h in history for t in self.catalogue.tags[h][:10])
        else:
            counts = Counter()
            liked_tags = Counter()
            if query_text:
                named = signals.genres_named(query_text)
                counts = Counter({g: 1 for g in self.catalogue.genres[i] if named is not None
                                  and named[signals.genre_names.index(g)] > 0})
                words = set(query_text.casefold().replace(",", " ").split())
                liked_tags = Counter({t: 1 for t in self.catalogue.tags[i] if t.casefold() in words})
                parts.append("matches your description")
        genres = [g for g in self.catalogue.genres[i] if counts.get(g)]
        genres.sort(key=lambda g: -counts[g])
        if genres:
            asked = "genres you asked for" if not len(history) else "genres you like"
            parts.append(f"{asked}: {', '.join(genres[:3])}")
        tags = [t for t in self.catalogue.tags[i][:20] if liked_tags.get(t)]
        if tags:
            parts.append(f"tags: {', '.join(tags[:3])}")
        if not parts:
            parts.append("popular with people who like similar things")
        return " · ".join(parts)


def _check_k(k) -> int:
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise SuiteError(f"k = {k!r}; give a whole number of recommendations (1 to 100)") from None
    if not 1 <= k <= 100:
        raise SuiteError(f"k = {k}; give a number of recommendations from 1 to 100")
    return k
