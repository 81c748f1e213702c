"""Gradio demos, one module per application, and a hub that puts them in tabs.

Nothing here may phone home: analytics and hub access are switched off before gradio loads.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
