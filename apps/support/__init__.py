"""The retrieval-augmented customer-support chatbot: grounded answers with sources, intents, hand-off."""

from .answer import Answer, Source, answer_html
from .config import SupportConfig
from .kb import SUPPORTED, IngestReport, KnowledgeBase
from .pipeline import SupportBot, default_bot, default_config

__all__ = ["SupportConfig", "SupportBot", "Answer", "Source", "default_bot", "default_config", "answer_html",
           "IngestReport", "KnowledgeBase", "SUPPORTED"]
