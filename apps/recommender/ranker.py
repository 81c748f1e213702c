"""Signals for one set of training interactions, candidate features, and the learned blend.

:class:`Signals` is fitted offline on training positives (EASE, item-kNN, popularity, text
vectors, the interest model's vectors, per-item timestamps). For one user history it unites the
candidate sources' top items and describes each candidate by the features in :data:`FEATURES`.
:class:`Ranker` is a scikit-learn gradient-boosted classifier over those features, fitted on a
validation split (each user's last positives held out of the training part).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ConfigError, ModelNotFoundError

from .candidates import EASE, ItemKNN, Popularity, TextSimilarity, interaction_matrix, profile_vector
from .coldstart import ColdItemModel, ColdSettings, content_features, fit_cold_model
from .data import Catalogue, Interactions

__all__ = ["FEATURES", "Signals", "Ranker", "UserState", "user_histories", "HybridModel", "fit_hybrid",
           "ColdSettings"]

DAY = 86400
FEATURES = ("ease", "ease_rank", "ease_recent", "knn", "knn_recent", "knn_last", "seq_last", "seq_recent", "text", "text_recent",
            "text_max_recent", "interest", "pop", "pop_30d", "pop_180d", "genre_match", "year_gap",
            "history_len", "ease_norm", "knn_norm")


@dataclass
class UserState:
    """A history in time order (item positions) and the time of its last event."""

    items: np.ndarray
    last_time: int | None = None
    query_vector: np.ndarray | None = None     # a text query (cold start) in the frozen text space
    interest_vector: np.ndarray | None = None  # the history (or query) under the interest model
    query_genres: np.ndarray | None = None     # genres a text query names (unit vector over genres)


def user_histories(inter: Interactions) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """user position -> (items, timestamps) in time order."""
    order = np.lexsort((np.arange(len(inter)), inter.timestamps, inter.users))
    users = inter.users[order]
    bounds = np.flatnonzero(np.diff(users)) + 1
    return {int(inter.users[rows[0]]): (inter.items[rows], inter.timestamps[rows])
            for rows in np.split(order, bounds) if len(rows)}


def _transitions(train: Interactions, n_items: int, window: int = 5, shrink: float = 5.0):
    """Sequential co-occurrence: how often item ``j`` is liked within ``window`` steps after item
    ``i`` in other users' time-ordered histories, cosine-normalised (sparse ``(I, I)``)."""
    import scipy.sparse as sp

    rows, cols = [], []
    for items, _ in user_histories(train).values():
        for d in range(1, window + 1):
            if len(items) > d:
                rows.append(items[:-d])
                cols.append(items[d:])
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    r, c = np.concatenate(rows), np.concatenate(cols)
    T = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n_items, n_items))
    T.sum_duplicates()
    counts = np.bincount(train.items, minlength=n_items).astype(np.float32)
    T = T.tocoo()
    data = T.data / (np.sqrt(counts[T.row] * counts[T.col]) + shrink)
    return sp.csr_matrix((data.astype(np.float32), (T.row, T.col)), shape=(n_items, n_items))


class Signals:
    """Everything the features need, fitted on one set of training positives."""

    def __init__(self, catalogue: Catalogue, train: Interactions, text_vectors: np.ndarray,
                 interest_vectors: np.ndarray | None = None, ease_l2: float = 250.0, knn_k: int = 100,
                 recent: int = 5, candidates_per_source: int = 100):
        self.catalogue = catalogue
        self.n_items = len(catalogue)
        self.recent = recent
        self.per_source = candidates_per_source
        X = interaction_matrix(train.users, train.items, train.n_users, self.n_items)
        self.ease = EASE(ease_l2).fit(X)
        self.knn = ItemKNN(knn_k).fit(X)
        self.pop = Popularity().fit(X)
        self.text = TextSimilarity(text_vectors)
        self.transitions = _transitions(train, self.n_items)
        self.interest_vectors = interest_vectors
        # per-item sorted timestamps, as one sorted key array: item * SPAN + (t - t0)
        self.t0 = int(train.timestamps.min()) if len(train) else 0
        self.span = int(train.timestamps.max() - self.t0 + 2 * 365 * DAY) if len(train) else 1
        self.time_keys = np.sort(train.items * self.span + (train.timestamps - self.t0))
        self.last_time = int(train.timestamps.max()) if len(train) else 0
        genres = sorted({g for gs in catalogue.genres for g in gs})
        self.genre_names = genres
        gi = {g: i for i, g in enumerate(genres)}
        G = np.zeros((self.n_items, max(1, len(genres))), np.float32)
        for i, gs in enumerate(catalogue.genres):
            for g in gs:
                G[i, gi[g]] = 1.0
        self.genres = G
        self.genre_unit = G / np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-9)
        years = np.array([y if y else np.nan for y in catalogue.years], dtype=np.float32)
        self.years = np.where(np.isnan(years), np.nanmean(years) if np.isfinite(years).any() else 0.0, years)
        self.year_stats = (float(self.years.mean()), float(self.years.std()) or 1.0)
        self._content = None

    def content(self) -> np.ndarray:
        """``(I, d)`` item content features for the cold-start mapping (built once)."""
        if self._content is None:
            self._content = content_features(self.text.embeddings, self.genres, self.years, self.year_stats)
        return self._content

    # ------------------------------------------------------------------ pieces
    def genres_named(self, text: str) -> np.ndarray | None:
        """A unit vector over the genres a text names ("sci-fi", "comedies", ...), None if none."""
        words = {w for w in ("".join(c if c.isalnum() else " " for c in text.casefold().replace("-", ""))).split()}
        words |= {w[:-1] for w in words if w.endswith("s")} | {w[:-3] + "y" for w in words if w.endswith("ies")}
        vec = np.zeros(self.genres.shape[1], np.float32)
        for j, name in enumerate(self.genre_names):
            key = "".join(c for c in name.casefold() if c.isalnum())
            if key in words or (key.endswith("s") and key[:-1] in words):
                vec[j] = 1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else None

    def window_counts(self, items: np.ndarray, end: int, days: int) -> np.ndarray:
        """Positives of each item in the ``days`` before ``end`` (training data only)."""
        hi = np.clip(end - self.t0, -1, self.span - 1)
        lo = np.clip(end - days * DAY - self.t0, -1, self.span - 1)
        base = items.astype(np.int64) * self.span
        return (np.searchsorted(self.time_keys, base + hi, side="right")
                - np.searchsorted(self.time_keys, base + lo, side="right")).astype(np.float32)

    def dense_scores(self, state: UserState) -> dict[str, np.ndarray]:
        """Per-source scores over the whole catalogue for one user."""
        items = np.asarray(state.items, dtype=np.int64)
        recent = items[-self.recent:]
        out = {}
        if len(items):
            out["ease"] = self.ease.scores(items)
            out["ease_recent"] = self.ease.scores(recent)
            out["knn"] = self.knn.scores(items)
            out["knn_recent"] = self.knn.scores(items[-3:])
            out["knn_last"] = self.knn.scores(items[-1:])
            out["seq_last"] = np.asarray(self.transitions[items[-1]].todense()).ravel()
            w = np.linspace(0.5, 1.0, len(recent), dtype=np.float32)
            out["seq_recent"] = np.asarray(self.transitions[recent].T @ w).ravel()
            weights = np.linspace(0.5, 1.0, len(items), dtype=np.float32)  # later items weigh more
            profile = profile_vector(self.text.embeddings, items, weights)
            out["text_recent"] = self.text.scores_vector(profile_vector(self.text.embeddings, recent))
        else:
            zero = np.zeros(self.n_items, np.float32)
            for name in ("ease", "ease_recent", "knn", "knn_recent", "knn_last", "seq_last", "seq_recent",
                         "text_recent"):
                out[name] = zero
            profile = np.zeros(self.text.embeddings.shape[1], np.float32)
        if state.query_vector is not None:
            profile = profile + np.asarray(state.query_vector, np.float32)
            profile /= max(float(np.linalg.norm(profile)), 1e-9)
            out["text_recent"] = 0.5 * (out["text_recent"] + self.text.scores_vector(state.query_vector)) \
                if len(items) else self.text.scores_vector(state.query_vector)
        out["text"] = self.text.scores_vector(profile)
        out["profile"] = profile
        out["query_genres"] = state.query_genres
        if self.interest_vectors is not None and state.interest_vector is not None:
            out["interest"] = self.interest_vectors @ np.asarray(state.interest_vector, np.float32)
        else:
            out["interest"] = np.zeros(self.n_items, np.float32)
        return out

    def candidates(self, state: UserState, dense: dict, exclude: np.ndarray | None = None) -> np.ndarray:
        """The union of each source's best items, minus ``exclude`` (the user's history)."""
        n = self.per_source
        blocked = np.zeros(self.n_items, dtype=bool)
        blocked[np.asarray(state.items, dtype=np.int64)] = True
        if exclude is not None:
            blocked[np.asarray(exclude, dtype=np.int64)] = True
        pools = []
        if len(state.items):
            pools += [dense["ease"], dense["knn_recent"], dense["seq_recent"]]
        pools += [dense["text"]]
        if self.interest_vectors is not None and state.interest_vector is not None:
            pools.append(dense["interest"])
        end = state.last_time if state.last_time is not None else self.last_time
        recent_pop = self.window_counts(np.arange(self.n_items), end, 30)
        pools += [recent_pop, self.pop.item_scores]
        if state.query_genres is not None:  # popular items of the genres a query names
            pools.append(self.genre_unit @ state.query_genres + 0.01 * self.pop.item_scores)
        chosen = set()
        for scores in pools:
            masked = np.where(blocked, -np.inf, scores)
            k = min(n, int((~blocked).sum()))
            if k <= 0:
                break
            top = np.argpartition(-masked, k - 1)[:k]
            chosen.update(int(i) for i in top if np.isfinite(masked[i]))
        return np.array(sorted(chosen), dtype=np.int64)

    def features(self, state: UserState, dense: dict, cands: np.ndarray) -> np.ndarray:
        """``(C, len(FEATURES))`` for the candidates of one user."""
        items = np.asarray(state.items, dtype=np.int64)
        end = state.last_time if state.last_time is not None else self.last_time
        ease = dense["ease"]
        ease_rank = np.empty(self.n_items, np.float32)
        ease_rank[np.argsort(-ease, kind="stable")] = np.arange(self.n_items, dtype=np.float32)
        recent = items[-self.recent:]
        if len(recent):
            sims = self.text.embeddings[cands] @ self.text.embeddings[recent].T  # (C, R)
            text_max = sims.max(axis=1)
            user_genres = self.genres[items].sum(axis=0)
            user_genres /= max(float(np.linalg.norm(user_genres)), 1e-9)
            user_year = float(self.years[items[-10:]].mean())
        else:
            text_max = np.zeros(len(cands), np.float32)
            user_genres = np.zeros(self.genres.shape[1], np.float32)
            user_year = float(np.median(self.years))
        columns = {
            "ease": ease[cands], "ease_rank": np.log1p(ease_rank[cands]),
            "ease_recent": dense["ease_recent"][cands], "knn": dense["knn"][cands],
            "knn_recent": dense["knn_recent"][cands], "knn_last": dense["knn_last"][cands],
            "seq_last": dense["seq_last"][cands], "seq_recent": dense["seq_recent"][cands],
            "text": dense["text"][cands], "text_recent": dense["text_recent"][cands], "text_max_recent": text_max,
            "interest": dense["interest"][cands], "pop": self.pop.item_scores[cands],
            "pop_30d": np.log1p(self.window_counts(cands, end, 30)),
            "pop_180d": np.log1p(self.window_counts(cands, end, 180)),
            "genre_match": self.genre_unit[cands] @ user_genres,
            "year_gap": self.years[cands] - user_year,
            "history_len": np.full(len(cands), np.log1p(len(items)), np.float32),
            "ease_norm": ease[cands] / max(float(ease.max()), 1e-9),
            "knn_norm": dense["knn"][cands] / max(float(dense["knn"].max()), 1e-9),
        }
        return np.stack([np.asarray(columns[f], np.float32) for f in FEATURES], axis=1)


class Ranker:
    """Gradient-boosted trees over the candidate features (scikit-learn's HistGradientBoosting).

    The defaults (250 trees of 15 leaves, >= 200 rows a leaf, every user weighing the same) were
    chosen on a second validation split of ML-100K (ranker fitted one step earlier, NDCG@10 of
    the next step): 0.1659 for the former 200 x 31 leaves unweighted, 0.1719 weighted, 0.1771 now;
    bigger trees (300 x 63 leaves) overfit (0.1591).

    A fitted scikit-learn model only saves as pickle, which the suite does not hand to users: the
    ranker saves its training table (npz) and parameters (JSON) and refits on load (seconds).
    """

    def __init__(self, max_iter: int = 250, learning_rate: float = 0.05, max_leaf_nodes: int = 15,
                 min_samples_leaf: int = 200, seed: int = 0, features: tuple[str, ...] = FEATURES, kind: str = "trees",
                 user_weighting: bool = True):
        if kind not in ("trees", "logistic"):
            raise ConfigError(f"ranker kind = {kind!r}; expected trees or logistic")
        self.params = {"max_iter": max_iter, "learning_rate": learning_rate, "max_leaf_nodes": max_leaf_nodes,
                       "min_samples_leaf": min_samples_leaf, "seed": seed, "kind": kind, "user_weighting": user_weighting}
        self.features = tuple(features)
        self.model = None
        self.table: tuple[np.ndarray, np.ndarray] | None = None
        self.groups: np.ndarray | None = None

    def _columns(self) -> list[int]:
        return [FEATURES.index(f) for f in self.features]

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> "Ranker":
        """``groups``: the user of each row. With ``user_weighting`` every user weighs the same in
        the loss (rows weighted 1 / the user's candidates), as every user weighs the same in the
        NDCG averaged over users (measured on validation: ML-100K NDCG@10 0.166 -> 0.172)."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        if len(np.unique(y)) < 2:
            raise ConfigError("the ranker's validation candidates hold no positive (or no negative): "
                              "too little data to learn a blend; use more interactions")
        self.table = (np.asarray(X, np.float32), np.asarray(y, np.int8))
        self.groups = None if groups is None else np.asarray(groups, np.int64)
        weight = None
        if self.params.get("user_weighting") and self.groups is not None:
            _, inverse, counts = np.unique(self.groups, return_inverse=True, return_counts=True)
            weight = (len(self.groups) / len(counts)) / counts[inverse]  # mean 1
        if self.params["kind"] == "logistic":
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
            self.model.fit(self.table[0][:, self._columns()], self.table[1], logisticregression__sample_weight=weight)
            return self
        self.model = HistGradientBoostingClassifier(
            max_iter=self.params["max_iter"], learning_rate=self.params["learning_rate"],
            max_leaf_nodes=self.params["max_leaf_nodes"], min_samples_leaf=self._min_leaf(len(self.table[1])),
            random_state=self.params["seed"],
            early_stopping=False)
        self.model.fit(self.table[0][:, self._columns()], self.table[1], sample_weight=weight)
        return self

    def _min_leaf(self, rows: int) -> int:
        """The configured leaf size, scaled down for small tables (at most one leaf per 1,000
        rows, at least 20: scikit-learn's default) so that a small catalogue still gets splits."""
        return int(min(self.params.get("min_samples_leaf", 20), max(20, rows // 1000)))

    def score(self, X: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise ModelNotFoundError("the ranker is not fitted. Fix: ftsuite recommend train")
        return self.model.predict_proba(np.asarray(X, np.float32)[:, self._columns()])[:, 1]

    def save(self, path: Path) -> None:
        X, y = self.table
        extra = {} if self.groups is None else {"groups": self.groups}
        np.savez_compressed(path, X=X, y=y, **extra)
        Path(str(path) + ".json").write_text(json.dumps({"params": self.params, "features": list(self.features)}),
                                             encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "Ranker":
        meta = json.loads(Path(str(path) + ".json").read_text(encoding="utf-8"))
        params = {"min_samples_leaf": 20, **meta["params"]}  # rankers saved before it was a parameter
        ranker = cls(**params, features=tuple(meta["features"]))
        with np.load(path) as data:
            return ranker.fit(data["X"], data["y"], data["groups"] if "groups" in data.files else None)


class HybridModel:
    """Signals + ranker: the full model's online path for one user.

    Items with no interactions yet (new items) are scored by the cold-start mapping
    (:mod:`apps.recommender.coldstart`: their EASE score predicted from content, blended with
    text similarity to the profile, calibrated to a probability on a validation split). The
    ranker itself learned on candidates that all had interactions; on ML-100K it gave new items
    an AUC below 0.5 (a confounded sign), so it does not score them.
    """

    def __init__(self, signals: Signals, ranker: Ranker, cold: ColdSettings | None = None, cold_candidates: int = 0):
        self.signals = signals
        self.cold_candidates = int(cold_candidates)
        self.ranker = ranker
        self.cold_settings = cold or ColdSettings()
        self.cold_items = np.flatnonzero(signals.pop.counts == 0)
        # built whenever something is warm: new items of the catalogue, and ones described later
        # (``audience``), go through it
        self.cold = ColdItemModel(self.cold_settings, signals.content(), signals.pop.counts) \
            if (signals.pop.counts > 0).any() else None

    def rank(self, state: UserState, k: int = 10, exclude=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """``(items, scores, features, dense)`` of the best ``k`` candidates, best first.

        One user's request is small: thread pools (BLAS, OpenMP in the trees) cost more than they
        bring on it, so it runs single-threaded (measured: 380 ms -> a few ms per user under load).
        """
        with _single_thread():
            return self._rank(state, k, exclude)

    def _cold_pool(self, state: UserState, dense: dict, cands: np.ndarray, exclude) -> np.ndarray:
        """``cands`` plus the ``cold_candidates`` best new items by the cold-start blend (other
        than text similarity, no source retrieves them). Off by default: on ML-100K's validation
        split 100 of them cost 0.002 NDCG@10 (0.1761 -> 0.1742); new items still come in through
        the text source and are scored by the mapping."""
        if self.cold is None or not len(state.items) or self.cold_candidates <= 0:
            return cands
        pool = self.cold_items[~np.isin(self.cold_items, state.items)]
        if exclude is not None:
            pool = pool[~np.isin(pool, exclude)]
        if not len(pool):
            return cands
        blend = self.cold.score(dense["ease"], dense["text"], pool)
        top = pool[np.argsort(-blend, kind="stable")[:self.cold_candidates]]
        return np.union1d(cands, top)

    def _rank(self, state, k, exclude):
        dense = self.signals.dense_scores(state)
        cands = self._cold_pool(state, dense, self.signals.candidates(state, dense, exclude), exclude)
        if len(cands) == 0:
            return cands, np.zeros(0, np.float32), np.zeros((0, len(FEATURES)), np.float32), dense
        feats = self.signals.features(state, dense, cands)
        if len(state.items):
            scores = self._scores(dense, cands, feats)
        else:
            scores = self.cold_user_scores(dense, cands)
        order = np.lexsort((cands, -scores))[:k]
        return cands[order], scores[order].astype(np.float32), feats[order], dense

    def _scores(self, dense: dict, items: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """Warm items: the ranker (over their rows of ``feats``); new items: the calibrated
        cold-start blend."""
        cold = self.signals.pop.counts[items] == 0
        scores = np.zeros(len(items), np.float64)
        if (~cold).any():
            scores[~cold] = self.ranker.score(feats[~cold])
        if cold.any():
            if self.cold is not None:
                scores[cold] = self.cold.probability(self.cold.score(dense["ease"], dense["text"], items[cold]))
            else:  # nothing warm to learn from: text similarity alone
                scores[cold] = dense["text"][items[cold]]
        return scores

    def cold_user_scores(self, dense: dict, cands: np.ndarray) -> np.ndarray:
        """A user with no history (a sentence only): the ranker learned on histories does not
        apply; text similarity (and the interest model) with a small popularity prior does."""
        pop = self.signals.pop.item_scores
        prior = pop[cands] / max(float(pop.max()), 1e-9)
        scores = dense["text"][cands] + 0.5 * dense["interest"][cands] + 0.05 * prior
        if dense.get("query_genres") is not None:
            scores = scores + 0.2 * (self.signals.genre_unit[cands] @ dense["query_genres"])
        return scores

    def score_items(self, state: UserState, items: np.ndarray) -> np.ndarray:
        """Scores of given items (e.g. new items that no source would retrieve), on the scale of
        ``rank``: the ranker for warm items, the calibrated cold-start blend for new ones."""
        items = np.asarray(items, np.int64)
        with _single_thread():
            dense = self.signals.dense_scores(state)
            cold = self.signals.pop.counts[items] == 0
            feats = np.zeros((len(items), len(FEATURES)), np.float32)
            if (~cold).any():
                feats[~cold] = self.signals.features(state, dense, items[~cold])
            return self._scores(dense, items, feats).astype(np.float32)

    def audience(self, features: np.ndarray, text_vector: np.ndarray, users: list,
                 histories: dict) -> np.ndarray:
        """The cold-start blend of one new item (its content ``features`` row and text vector) for
        each user in ``users`` (``histories``: user -> (items, times)); higher = more likely."""
        if self.cold is None:
            raise ConfigError("no item has interactions: the cold-start mapping has nothing to learn from")
        sig = self.signals
        rows = [np.unique(np.asarray(histories[u][0], np.int64)) for u in users]
        import scipy.sparse as sp

        indptr = np.r_[0, np.cumsum([len(r) for r in rows])]
        X = sp.csr_matrix((np.ones(indptr[-1], np.float32), np.concatenate(rows) if rows else [], indptr),
                          shape=(len(users), sig.n_items))
        with _single_thread():
            ease = sig.ease.scores_many(X)  # (U, I)
            ease_hat = self.cold.user_weights(ease) @ np.asarray(features, np.float32)  # (U,)
            profiles = np.stack([profile_vector(sig.text.embeddings, r) for r in rows])
            return self.cold.blend(ease_hat, profiles @ np.asarray(text_vector, np.float32))


_CONTROLLER = None


def _single_thread():
    """A context limiting BLAS and OpenMP pools to one thread (the controller is built once)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        import sklearn.ensemble  # noqa: F401 - load the OpenMP runtime before the controller looks
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1)


def training_table(signals: Signals, histories: dict, held_out: dict[int, list[int]], interest_of=None,
                   max_users: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate features, labels (1 = in the user's held-out positives) and each row's user."""
    users = sorted(u for u in held_out if u in histories)
    if max_users and len(users) > max_users:
        users = sorted(np.random.default_rng(seed).choice(users, max_users, replace=False).tolist())
    tables, labels, groups = [], [], []
    for u in users:
        items, times = histories[u]
        state = UserState(items, int(times[-1]), interest_vector=interest_of(u) if interest_of else None)
        dense = signals.dense_scores(state)
        cands = signals.candidates(state, dense)
        if len(cands) == 0:
            continue
        tables.append(signals.features(state, dense, cands))
        labels.append(np.isin(cands, held_out[u]).astype(np.int8))
        groups.append(np.full(len(cands), u, np.int64))
    if not tables:
        raise ConfigError("no user has a validation hold-out: too little data to fit the ranker")
    return np.concatenate(tables), np.concatenate(labels), np.concatenate(groups)


def fit_hybrid(catalogue: Catalogue, train: Interactions, text_vectors: np.ndarray, interest=None,
               ease_l2: float = 250.0, knn_k: int = 100, ranker_params: dict | None = None,
               features: tuple[str, ...] = FEATURES, max_users: int | None = None,
               cold: ColdSettings | bool = True, cold_candidates: int = 0) -> HybridModel:
    """Fit the ranker on a validation split of ``train`` (each eligible user's last 20% of
    positives held out), then refit the signals on all of ``train``.

    ``interest``: ``(item_vectors, user_vector_fn)`` where ``user_vector_fn(histories)`` maps
    ``{user: (items, times)}`` to ``{user: vector}``; None leaves the interest feature at zero.
    ``cold``: True chooses the cold-start mapping's settings on a validation split
    (:func:`apps.recommender.coldstart.fit_cold_model`), False keeps the defaults, or given settings.
    """
    from .split import holdout_last

    inner = holdout_last(train)
    histories = user_histories(inner.train)
    item_vectors, user_vectors_fn = interest if interest else (None, None)
    inner_vectors = user_vectors_fn(histories) if user_vectors_fn else {}
    signals = Signals(catalogue, inner.train, text_vectors, item_vectors, ease_l2, knn_k)
    X, y, groups = training_table(signals, histories, inner.test, inner_vectors.get if inner_vectors else None,
                          max_users=max_users)
    ranker = Ranker(**(ranker_params or {}), features=features).fit(X, y, groups)
    full = Signals(catalogue, train, text_vectors, item_vectors, ease_l2, knn_k)
    if cold is True:
        cold = fit_cold_model(full.content(), full.text.embeddings, train, len(catalogue), ease_l2)
    return HybridModel(full, ranker, cold if isinstance(cold, ColdSettings) else None, cold_candidates)
