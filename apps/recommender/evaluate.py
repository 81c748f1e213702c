"""The DATA.md protocol run end to end: every method side by side, item cold start, latency.

``evaluate(catalogue, interactions, text_vectors, interest)`` returns one row per method with
Recall@10, NDCG@10 and HR@10 over the test users, the item cold-start AUC where the method can
score cold items, and the p95 latency of one user's full-catalogue recommendation for the full
model. EASE's lambda is chosen on a validation split carved from the training part (each user's
last 20% of training positives), as is the ranker.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from .candidates import EASE, ItemKNN, Popularity, TextSimilarity, interaction_matrix
from .data import Catalogue, Interactions
from .ranker import FEATURES, HybridModel, UserState, fit_hybrid, user_histories
from .split import positives, auc, cold_items, drop_items, holdout_last, ranking_metrics, top_k

__all__ = ["evaluate", "rank_all", "tune_ease", "cold_start_auc"]

EASE_GRID = (50.0, 100.0, 250.0, 500.0, 1000.0)


def rank_all(model, train: Interactions, n_items: int, test: dict, k: int = 10) -> dict[int, list[int]]:
    """Top ``k`` of a candidate source for every test user, training items excluded."""
    X = interaction_matrix(train.users, train.items, train.n_users, n_items)
    users = sorted(test)
    out = {}
    for start in range(0, len(users), 256):
        chunk = users[start:start + 256]
        scores = model.scores_many(X[chunk])
        scores[X[chunk].toarray() > 0] = -np.inf
        for row, u in zip(scores, chunk):
            out[u] = top_k(row, k).tolist()
    return out


def tune_ease(train: Interactions, n_items: int, grid=EASE_GRID) -> tuple[float, dict]:
    """The lambda with the best validation NDCG@10 (validation = last 20% of training positives)."""
    inner = holdout_last(train)
    X = interaction_matrix(inner.train.users, inner.train.items, train.n_users, n_items)
    results = {}
    for l2 in grid:
        ranked = rank_all(EASE(l2).fit(X), inner.train, n_items, inner.test)
        results[l2] = ranking_metrics(ranked, inner.test)["ndcg@10"]
    return max(results, key=results.get), results


def cold_start_auc(score_fn, train: Interactions, cold: np.ndarray, all_positives: Interactions,
                   users) -> float:
    """Mean over users of the AUC of their liked cold items against the cold items they did not like.

    ``score_fn(user, history, times, cold)`` gives the scores of the cold items for one user.
    """
    liked = user_histories(all_positives)
    histories = user_histories(train)
    cold_set = set(cold.tolist())
    values = []
    for u in users:
        if u not in histories or u not in liked:
            continue
        positive = [i for i in liked[u][0].tolist() if i in cold_set]
        if not positive:
            continue
        scores = score_fn(u, histories[u][0], histories[u][1], cold)
        mask = np.isin(cold, positive)
        values.append(auc(scores[mask], scores[~mask]))
    return float(np.nanmean(values)) if values else float("nan")


def evaluate(catalogue: Catalogue, inter: Interactions, text_vectors: np.ndarray, interest=None,
             knn_k: int = 100, latency_users: int = 200, log=print) -> list[dict]:
    """All methods on the protocol split. ``interest``: ``(item_vectors, user_vectors_fn)`` of a
    model trained without the test positives, the validation positives and the cold items."""
    n_items = len(catalogue)
    split = holdout_last(inter)
    train, test = split.train, split.test
    X = interaction_matrix(train.users, train.items, train.n_users, n_items)
    rows = []

    def add(method: str, ranked: dict, **extra):
        row = {"method": method, **ranking_metrics(ranked, test), **extra}
        rows.append(row)
        log(f"  {method:34} ndcg@10 {row['ndcg@10']:.4f} recall@10 {row['recall@10']:.4f} hr@10 {row['hr@10']:.4f}")

    started = time.time()
    l2, grid = tune_ease(train, n_items)
    log(f"  EASE lambda {l2:g} (validation NDCG@10 {', '.join(f'{k:g}: {v:.4f}' for k, v in grid.items())})")
    ease = EASE(l2).fit(X)
    knn = ItemKNN(knn_k).fit(X)
    text = TextSimilarity(text_vectors)
    add("popularity", rank_all(Popularity().fit(X), train, n_items, test))
    add("item-knn", rank_all(knn, train, n_items, test), k_neighbours=knn_k)
    add("ease", rank_all(ease, train, n_items, test), l2=l2)
    add("text-only (frozen MiniLM)", rank_all(text, train, n_items, test))

    class _Blend:
        def scores_many(self, Xu):
            return ease.scores_many(Xu) + 0.2 * text.scores_many(Xu)

    add("ease + 0.2 x text (fixed)", rank_all(_Blend(), train, n_items, test), l2=l2)
    if interest is not None:
        item_vecs, user_fn = interest
        histories = user_histories(train)
        user_vecs = user_fn({u: histories[u] for u in test if u in histories})
        ranked = {}
        for u in sorted(test):
            scores = item_vecs @ user_vecs[u]
            scores[histories[u][0]] = -np.inf
            ranked[u] = top_k(scores, 10).tolist()
        add("text-only (fine-tuned interest model)", ranked)

    def full(name: str, use_interest: bool, features=FEATURES):
        t0 = time.time()
        model = fit_hybrid(catalogue, train, text_vectors, interest if use_interest else None, l2, knn_k,
                           features=features)
        fit_s = time.time() - t0
        histories = user_histories(train)
        user_vecs = interest[1]({u: histories[u] for u in test if u in histories}) if use_interest else {}
        ranked, latencies = {}, []
        for n, u in enumerate(sorted(test)):
            items, times = histories[u]
            state = UserState(items, int(times[-1]), interest_vector=user_vecs.get(u))
            t1 = time.perf_counter()
            top, _, _, _ = model.rank(state, 10)
            if n < latency_users:
                latencies.append(time.perf_counter() - t1)
            ranked[u] = top.tolist()
        p95 = float(np.percentile(latencies, 95) * 1000)
        add(name, ranked, fit_seconds=round(fit_s, 1), p95_ms=round(p95, 2),
            latency_users=len(latencies))
        return model

    full("full (ranker, frozen text)", False)
    if interest is not None:
        full("full (ranker + interest model)", True)

    # ---- item cold start: 10% of items with >= 5 positives lose all training interactions
    cold = cold_items(inter)
    cold_train = drop_items(train, cold)
    liked = positives(inter)
    users = sorted(test)
    cold_rows = {}
    Xc = interaction_matrix(cold_train.users, cold_train.items, cold_train.n_users, n_items)
    ease_c = EASE(l2).fit(Xc)
    cold_rows["ease"] = cold_start_auc(lambda u, h, t, c: ease_c.scores(h)[c], cold_train, cold, liked, users)
    knn_c = ItemKNN(knn_k).fit(Xc)
    cold_rows["item-knn"] = cold_start_auc(lambda u, h, t, c: knn_c.scores(h)[c], cold_train, cold, liked, users)
    cold_rows["text-only (frozen MiniLM)"] = cold_start_auc(lambda u, h, t, c: text.scores(h)[c], cold_train, cold,
                                                            liked, users)
    variants = [("full (ranker, frozen text)", False)]
    if interest is not None:
        hist_c = user_histories(cold_train)
        vecs_c = interest[1]({u: hist_c[u] for u in users if u in hist_c})
        cold_rows["text-only (fine-tuned interest model)"] = cold_start_auc(
            lambda u, h, t, c: interest[0][c] @ vecs_c[u], cold_train, cold, liked, users)
        variants.append(("full (ranker + interest model)", True))
    cold_settings = {}
    for name, use_interest in variants:
        model_c = fit_hybrid(catalogue, cold_train, text_vectors, interest if use_interest else None, l2, knn_k)
        hist_c = user_histories(cold_train)
        vecs_c = interest[1]({u: hist_c[u] for u in users if u in hist_c}) if use_interest else {}
        cold_rows[name] = cold_start_auc(
            lambda u, h, t, c: model_c.score_items(UserState(h, int(t[-1]), interest_vector=vecs_c.get(u)), c),
            cold_train, cold, liked, users)
        settings = model_c.cold_settings
        cold_settings[name] = {"cold_alpha": settings.alpha, "cold_text_weight": settings.text_weight,
                               "cold_validation_auc": settings.validation_auc}
        if not use_interest:  # the mapping's parts alone, same fitted model (side by side)
            signals_c = model_c.signals
            only = HybridModel(signals_c, model_c.ranker, replace(settings, text_weight=0.0))
            cold_rows["cold start: content -> EASE mapping only"] = cold_start_auc(
                lambda u, h, t, c: only.score_items(UserState(h, int(t[-1])), c), cold_train, cold, liked, users)
            cold_rows["cold start: predicted popularity only"] = cold_start_auc(
                lambda u, h, t, c: _predicted_popularity(only)[c], cold_train, cold, liked, users)
    for row in rows:
        value = cold_rows.pop(row["method"], None)
        row["cold_auc"] = None if value is None or np.isnan(value) else round(float(value), 4)
        row["cold_items"] = int(len(cold))
        row.update(cold_settings.get(row["method"], {}))
    for method, value in cold_rows.items():  # cold-start-only methods: no ranking metrics
        rows.append({"method": method, "cold_auc": None if np.isnan(value) else round(float(value), 4),
                     "cold_items": int(len(cold))})
    log("  cold-start AUC: " + ", ".join(f"{r['method']} {r['cold_auc']}" for r in rows if r.get("cold_auc")))
    log(f"  evaluated in {time.time() - started:.0f} s")
    return rows


def _predicted_popularity(model: HybridModel) -> np.ndarray:
    """Log popularity of every item predicted from its content by the model's ridge mapping
    (fitted on the warm items): a user-independent cold-start baseline."""
    cold = model.cold
    return cold.features @ (cold.H @ model.signals.pop.item_scores[cold.warm])
