"""Item cold start: a mapping, learned on the warm items, from an item's content to the
collaborative side (the LightFM / DropoutNet idea, in closed form).

A user's EASE scores over the warm items say what the collaborative model thinks of each of them.
Ridge regression from item content (the frozen text vector, genres, year) to those scores,
``H = (F_w^T F_w + alpha I)^-1 F_w^T``, is one matrix for every user: a cold item ``i`` gets
``f_i . (H s_u)``, a collaborative score predicted from its content (it learns popularity, genre
and era preferences through the user's scores). It is blended with the text similarity to the
user's profile::

    cold(u, i) = ease_hat(u, i) / sd_ease + text_weight * text(u, i) / sd_text

``alpha`` and ``text_weight`` are chosen on a validation split carved from the training part
(:func:`fit_cold_model`: 10% of the items with >= 5 training positives made cold, AUC of each
user's liked ones against the others). A logistic calibration of the blend on the same split
(labels: the user's held-out later positives, like the ranker's) puts cold items on the ranker's
probability scale, so that ``HybridModel.rank`` can mix them with warm candidates. It is fitted on
the items that had no positive at all in the validation's training part (mostly obscure ones):
calibrated on the popular validation-cold items instead, new items flooded the top 10 and cost
ML-100K 0.006 validation NDCG@10.

Only the settings are saved (JSON); ``H`` is recomputed from the catalogue and the training
positives when the model is attached to a :class:`~apps.recommender.ranker.Signals` (a second).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core.errors import ConfigError

from .candidates import EASE, interaction_matrix, profile_vector
from .data import Interactions
from .split import auc, drop_items, holdout_last

__all__ = ["ColdSettings", "ColdItemModel", "content_features", "fit_cold_model", "ALPHAS", "TEXT_WEIGHTS"]

ALPHAS = (1.0, 3.0, 10.0, 30.0, 100.0)
TEXT_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
DECADES = 13  # 1900s .. 2020s


def content_features(text_vectors: np.ndarray, genres: np.ndarray, years: np.ndarray,
                     year_stats: tuple[float, float] | None = None) -> np.ndarray:
    """``(I, H + G + DECADES + 3)``: text vector, genres, year (standardised, squared), decade
    one-hot, a bias column. ``year_stats`` = (mean, std) of the catalogue's years (a new item
    outside the catalogue must use the catalogue's)."""
    years = np.asarray(years, np.float32)
    mean, std = year_stats if year_stats else (float(years.mean()), float(years.std()) or 1.0)
    z = (years - mean) / (std or 1.0)
    decade = np.zeros((len(years), DECADES), np.float32)
    decade[np.arange(len(years)), np.clip(((years - 1900) // 10).astype(np.int64), 0, DECADES - 1)] = 1.0
    return np.hstack([np.asarray(text_vectors, np.float32), 0.5 * np.asarray(genres, np.float32),
                      0.3 * z[:, None], 0.3 * z[:, None] ** 2, 0.5 * decade,
                      np.ones((len(years), 1), np.float32)]).astype(np.float32)


def _ridge(F_warm: np.ndarray, alpha: float) -> np.ndarray:
    """``(d, W)``: maps any per-warm-item target to content weights."""
    d = F_warm.shape[1]
    return np.linalg.solve(F_warm.T @ F_warm + alpha * np.eye(d, dtype=np.float32), F_warm.T).astype(np.float32)


@dataclass
class ColdSettings:
    alpha: float = 10.0
    text_weight: float = 0.2
    sd_ease: float = 1.0
    sd_text: float = 1.0
    calib_a: float = 1.0        # P(liked) = sigmoid(calib_a * blend + calib_b)
    calib_b: float = -3.0
    validation_auc: float | None = None
    validation: dict | None = None  # {"alpha/text_weight": auc} of the grid

    def __post_init__(self):
        if self.alpha <= 0 or self.sd_ease <= 0 or self.sd_text <= 0 or self.text_weight < 0:
            raise ConfigError(f"cold-start settings {asdict(self)}: alpha, sd_* must be > 0, text_weight >= 0")

    def save(self, path: Path) -> None:
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "ColdSettings":
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown cold-start keys {unknown}; known: {sorted(known)}")
        return cls(**values)


class ColdItemModel:
    """The fitted mapping for one set of training positives (see the module docstring).

    ``features``: content of every catalogue item; ``counts``: training positives per item (warm
    = > 0). ``score(ease, text, items)`` blends for one user; ``probability`` calibrates.
    """

    def __init__(self, settings: ColdSettings, features: np.ndarray, counts: np.ndarray):
        self.settings = settings
        self.features = np.asarray(features, np.float32)  # (I, d)
        self.warm = np.flatnonzero(np.asarray(counts) > 0)
        if len(self.warm) == 0:
            raise ConfigError("no item has a training positive: nothing to learn the cold-start mapping from")
        self.H = _ridge(self.features[self.warm], settings.alpha)  # (d, W)

    def user_weights(self, ease: np.ndarray) -> np.ndarray:
        """``(d,)`` (or ``(U, d)`` for ``(U, I)`` scores): content weights of one user's EASE scores."""
        ease = np.asarray(ease, np.float32)
        return ease[..., self.warm] @ self.H.T

    def predicted_ease(self, ease: np.ndarray, items: np.ndarray | None = None,
                       features: np.ndarray | None = None) -> np.ndarray:
        """The EASE score predicted from content for ``items`` (or for rows of ``features``)."""
        F = self.features[np.asarray(items, np.int64)] if features is None else np.asarray(features, np.float32)
        return F @ self.user_weights(ease).T

    def blend(self, ease_hat: np.ndarray, text: np.ndarray) -> np.ndarray:
        s = self.settings
        return ease_hat / s.sd_ease + s.text_weight * np.asarray(text, np.float32) / s.sd_text

    def score(self, ease: np.ndarray, text: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Blend scores of ``items`` for one user (``ease``, ``text``: the user's dense scores)."""
        items = np.asarray(items, np.int64)
        return self.blend(self.predicted_ease(ease, items), np.asarray(text)[items])

    def probability(self, blend: np.ndarray) -> np.ndarray:
        s = self.settings
        return 1.0 / (1.0 + np.exp(-(s.calib_a * np.asarray(blend, np.float64) + s.calib_b)))


def _mean_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    values = [auc(s[m], s[~m]) for s, m in zip(scores, labels) if m.any() and (~m).any()]
    return float(np.mean(values)) if values else float("nan")


def fit_cold_model(features: np.ndarray, text_vectors: np.ndarray, train: Interactions, n_items: int,
                   ease_l2: float, alphas=ALPHAS, text_weights=TEXT_WEIGHTS, max_users: int = 500,
                   seed: int = 1) -> ColdSettings:
    """Choose ``alpha`` and ``text_weight`` on a validation split of ``train`` (positives only).

    The split: each user's last 20% of positives held out (``holdout_last``); 10% of the items with
    >= 5 positives in the rest (``numpy.random.default_rng(seed)``) lose their interactions there.
    EASE and the mapping are fitted on what remains; the selection AUC compares each user's liked
    validation-cold items (any time in ``train``) with the other validation-cold items; the
    calibration learns P(held-out later positive | blend) on the items that have no positive in the
    inner training part (new items as ``rank`` meets them). Too little data -> the defaults.
    """
    inner = holdout_last(train)
    counts = np.bincount(inner.train.items, minlength=n_items)
    eligible = np.flatnonzero(counts >= 5)
    n_cold = int(round(0.1 * len(eligible)))
    if n_cold < 2:
        return ColdSettings()
    rng = np.random.default_rng(seed)
    vcold = np.sort(rng.choice(eligible, n_cold, replace=False))
    fit_part = drop_items(inner.train, vcold)
    X = interaction_matrix(fit_part.users, fit_part.items, train.n_users, n_items)
    ease = EASE(ease_l2).fit(X)
    users = np.flatnonzero(np.diff(X.indptr) > 0)
    if len(users) > max_users:
        users = np.sort(rng.choice(users, max_users, replace=False))
    if len(users) == 0:
        return ColdSettings()
    S = ease.scores_many(X[users])  # (U, I)
    liked = interaction_matrix(train.users, train.items, train.n_users, n_items)[users][:, vcold].toarray() > 0
    # the calibration's items: those with no positive in the inner training part at all (what
    # rank() meets as new items; mostly obscure ones, unlike the popular validation-cold items)
    fresh = np.setdiff1d(np.flatnonzero(counts == 0), vcold)
    later = np.zeros((len(users), len(fresh)), dtype=bool)
    position = {int(i): j for j, i in enumerate(fresh)}
    for r, u in enumerate(users):
        for i in inner.test.get(int(u), []):
            if int(i) in position:
                later[r, position[int(i)]] = True
    text = np.stack([text_vectors[vcold] @ profile_vector(text_vectors, X[u].indices) for u in users])  # (U, C)
    warm = np.flatnonzero(np.asarray(X.sum(axis=0)).ravel() > 0)
    results, best = {}, None
    for alpha in alphas:
        H = _ridge(features[warm], alpha)
        ease_hat = (S[:, warm] @ H.T) @ features[vcold].T  # (U, C)
        sd_e, sd_t = float(ease_hat.std()) or 1.0, float(text.std()) or 1.0
        for w in text_weights:
            blend = ease_hat / sd_e + w * text / sd_t
            value = _mean_auc(blend, liked)
            results[f"{alpha:g}/{w:g}"] = round(value, 4) if np.isfinite(value) else None
            if np.isfinite(value) and (best is None or value > best[0]):
                best = (value, alpha, w, sd_e, sd_t, blend)
    if best is None:
        return ColdSettings(validation=results)
    value, alpha, w, sd_e, sd_t, _ = best
    if len(fresh):
        H = _ridge(features[warm], alpha)
        text_fresh = np.stack([text_vectors[fresh] @ profile_vector(text_vectors, X[u].indices) for u in users])
        blend = ((S[:, warm] @ H.T) @ features[fresh].T) / sd_e + w * text_fresh / sd_t
        a, b = _calibrate(blend, later)
    else:
        a, b = ColdSettings.calib_a, ColdSettings.calib_b
    return ColdSettings(alpha=alpha, text_weight=w, sd_ease=sd_e, sd_text=sd_t, calib_a=a, calib_b=b,
                        validation_auc=round(value, 4), validation=results)


def _calibrate(blend: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Logistic regression of the labels on the blend score (one feature). No positive at all:
    new items were never liked later, so they rank below nearly everything (slope kept)."""
    if not labels.any():
        return 1.0, -12.0
    if labels.all():
        return 1.0, -3.0
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=10.0, max_iter=500).fit(blend.reshape(-1, 1), labels.ravel())
    return float(model.coef_[0, 0]), float(model.intercept_[0])
