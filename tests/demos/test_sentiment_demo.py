"""The monitor's demo as a user meets it: launched on 127.0.0.1 and driven with gradio_client."""

import pytest

from tests.apps.sentiment.conftest import monitor_config, tiny_sentiment  # noqa: F401 - fixtures
from tests.apps.sentiment.test_monitor import calm_then_burst

pytestmark = pytest.mark.slow


def test_import_builds_nothing():
    import demos.sentiment as module

    assert "demo" not in vars(module)


def test_demo_scores_escapes_and_survives_bad_input(monitor_config, tmp_path):  # noqa: F811
    from gradio_client import Client

    from apps.sentiment import Monitor
    from demos.sentiment import build_demo

    monitor = Monitor(monitor_config)
    monitor.ingest([str(calm_then_burst(tmp_path / "f.jsonl")), "http://169.254.169.254/<b>bold</b>.xml"])
    demo = build_demo(monitor)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        good = client.predict("Acme profit rose this week", api_name="/score")
        assert "positive" in good and "Acme" in good
        attack = client.predict("<script>alert(1)</script> Acme profit fell this week", api_name="/score")
        assert "<script>" not in attack and "negative" in attack
        assert "Type a headline" in client.predict("   ", api_name="/score")
        assert "2,000 characters" in client.predict("x" * 5000, api_name="/score")
        # each source's health, the failing one marked, its untrusted name escaped
        sources = client.predict(api_name="/refresh")[-1]
        assert "f.jsonl" in sources and "failing (1x" in sources and "link-local" in sources
        assert "<b>bold</b>" not in sources and "&lt;b&gt;bold&lt;/b&gt;" in sources
        # an analyst corrects the least sure headline and marks an alert as a false alarm
        unsure, note, labels = client.predict(api_name="/review")
        assert "tiny: trained on s.csv" in note and labels["choices"]
        uid = unsure["value"]
        stored = client.predict(uid, "negative", "ana", api_name="/correct")
        assert "Stored:" in stored and "by ana" in stored and monitor.store.count("corrections") == 1
        assert "Choose a headline first" in client.predict(None, "negative", "ana", api_name="/correct")
        alert = monitor.store.alerts()[0]["id"]
        assert "false_alarm by ana" in client.predict(alert, "false_alarm", "ana", api_name="/verdict")
        assert "Not stored: no alert 999" in client.predict(999, "false_alarm", "ana", api_name="/verdict")
    finally:
        demo.close()
        monitor.close()
