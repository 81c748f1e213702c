"""The recommender's demo as a user meets it: launched on 127.0.0.1 and driven with gradio_client."""

import pytest

from tests.apps.recommender.conftest import sample_recommender  # noqa: F401 - fixture

pytestmark = pytest.mark.slow


def test_import_builds_nothing():
    import demos.recommender as module

    assert "demo" not in vars(module)


def test_default_app_is_cheap(tmp_path, monkeypatch):
    from demos.recommender import default_app

    monkeypatch.setenv("FTSUITE_HOME", str(tmp_path))
    app = default_app()
    assert app._ready is False and app.folder.name == "ml-100k"


def test_demo_recommends_explains_escapes_and_survives_bad_input(sample_recommender):  # noqa: F811
    from gradio_client import Client

    from demos.recommender import build_demo

    demo = build_demo(sample_recommender)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        page = client.predict("u01", 5, api_name="/user")
        assert "recently liked" in page and "because you liked" in page
        assert "unknown user" in client.predict("<b>nobody</b>", 5, api_name="/user")
        assert "&lt;b&gt;nobody&lt;/b&gt;" in client.predict("<b>nobody</b>", 5, api_name="/user")
        assert "Pick a user" in client.predict("", 5, api_name="/user")
        chosen = client.predict(["The Quiet Orbit (2011)", "Neon Harbour (2016)"], "", 5, api_name="/profile")
        assert "because you liked" in chosen
        assert "Did you mean" in client.predict(["Quiet Orbit"], "", 5, api_name="/profile")
        typed = client.predict([], "<script>alert(1)</script> spooky haunted house", 5, api_name="/profile")
        assert "<script>" not in typed and "matches your description" in typed
        assert "Choose a few movies" in client.predict([], "  ", 5, api_name="/profile")
        assert "under 1000" in client.predict([], "x" * 5000, 5, api_name="/profile")
        assert "similar to" in client.predict("Neon Harbour", 5, api_name="/similar")
        assert "unknown item" in client.predict("Nothing Like It", 5, api_name="/similar")
    finally:
        demo.close()
