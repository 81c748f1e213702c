"""The text-aware recommender: item catalogue and interactions, candidate sources (popularity,
item-kNN, EASE, text similarity in faiss), a fine-tuned interest model over history text, a learned
ranker, cold start and explanations."""

from .config import RecommenderConfig
from .data import Catalogue, Interactions, LoadReport, load_catalogue, load_csv_dataset, load_dataset, load_interactions
from .pipeline import Recommender, default_folder

__all__ = ["RecommenderConfig", "Catalogue", "Interactions", "LoadReport", "load_catalogue", "load_csv_dataset",
           "load_dataset", "load_interactions", "Recommender", "default_folder"]
