"""The support demo as a user meets it: launched on 127.0.0.1 and driven with gradio_client."""

import pytest

from tests.apps.support.conftest import embedder, make_bot, write_kb  # noqa: F401 - fixtures
from tests.apps.support.test_documents import docx_bytes

pytestmark = pytest.mark.slow


def test_import_builds_nothing():
    import demos.support as module

    assert "demo" not in vars(module)


def test_chat_sources_feedback_handoff_admin_and_bad_input(tmp_path, embedder):  # noqa: F811
    from gradio_client import Client, handle_file

    from demos.support import build_demo, prepare

    bot = make_bot(tmp_path / "kb", embedder)
    assert "documents 0" in prepare(bot)
    bot.ingest([write_kb(tmp_path / "docs")])
    demo = build_demo(bot)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        assert "Rate an answer" in client.predict(api_name="/helpful")  # nothing to rate yet
        chat, box, sources, info = client.predict("How long does a new card take to arrive?", [], api_name="/ask")
        assert box == "" and len(chat) == 2
        assert "3-5 working days" in str(chat[-1]) and "[1]" in str(chat[-1])
        assert "cards.md" in sources and "Card delivery" in sources
        assert "Confidence" in info and "answered" in info
        assert "feedback stored" in client.predict(api_name="/helpful")

        # a follow-up is read with the previous question; then the customer asks for a person
        chat, _, _, info = client.predict("and on a business account <script>alert(1)</script>?", chat,
                                          api_name="/ask")
        assert len(chat) == 4 and "<script>" not in str(chat)
        chat, notice = client.predict(chat, api_name="/handoff")
        assert notice.startswith("Ticket #")
        tickets = client.predict(api_name="/tickets")
        assert len(tickets["data"]) == 1 and tickets["data"][0][-1] == "4"  # four turns in the transcript

        # bad input never crashes the page
        assert client.predict("", [], api_name="/ask")[3] == "Type a question first."
        assert len(client.predict("x" * 20000, [], api_name="/ask")[0]) == 2

        # admin: a new document becomes answerable; an unreadable one is reported, not fatal
        (tmp_path / "pets.md").write_text("# Pet insurance\n\nPet insurance covers vet bills up to £4,000 a year.\n")
        (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 damaged")
        (tmp_path / "travel.docx").write_bytes(docx_bytes())
        summary, documents = client.predict([handle_file(str(tmp_path / name)) for name in
                                             ("pets.md", "broken.pdf", "travel.docx")], api_name="/add_documents")
        assert "uploads/pets.md" in str(documents["data"]) and "uploads/travel.docx" in str(documents["data"])
        assert "broken.pdf" in summary and "damaged" in summary
        # the same name uploaded again with new content replaces the document, it is not added twice
        (tmp_path / "v2").mkdir()
        (tmp_path / "v2" / "pets.md").write_text("# Pet insurance\n\nPet insurance covers vet bills up to "
                                                 "£4,000 a year, with a £99 excess.\n")
        summary, documents = client.predict([handle_file(str(tmp_path / "v2" / "pets.md"))], api_name="/add_documents")
        assert "replaced 1" in summary and str(documents["data"]).count("pets.md") == 1
        chat, _, sources, _ = client.predict("How much of my vet bills does pet insurance cover?", [], api_name="/ask")
        assert "4,000" in str(chat[-1]) and "pets.md" in sources
        summary, _ = client.predict(api_name="/rebuild")
        assert summary
    finally:
        demo.close()


def test_training_tab_evaluates_trains_and_serves_the_bases_own_models(tmp_path, embedder):  # noqa: F811
    """An admin uploads past questions, sees each stage's figures, trains the base's models with a progress bar,
    and the chat answers with them at once; a bad history file is reported and the models in use stay."""
    from gradio_client import Client, handle_file

    from demos.support import build_demo
    from tests.apps.support.test_tuning import _history, _isp_kb

    bot = make_bot(tmp_path / "kb", embedder, backend="torch")  # torch serves: no ONNX export (tested on its own)
    bot.warm_up().ingest([_isp_kb(tmp_path / "docs")])
    history = _history(tmp_path / "history.csv")
    (tmp_path / "empty.csv").write_text("question,answer\n", encoding="utf-8")
    demo = build_demo(bot)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        text, own, stages = client.predict([handle_file(str(history))], 0, False, api_name="/evaluate_history")
        assert text.startswith("24 questions scored") and "prices.pdf" in text  # the bad rows are named
        assert [row[0] for row in stages["data"]][:3] == ["bm25", "dense", "fused"]
        assert [row[1] for row in own["data"]] == ["no", "no", "no"]

        text, own, stages = client.predict([handle_file(str(tmp_path / "empty.csv"))], 0, False,
                                           api_name="/evaluate_history")
        assert text.startswith("Not evaluated") and "at least 20" in text
        assert [row[0] for row in stages["data"]][:1] == ["bm25"]  # the last good table stays

        text, own, _ = client.predict([handle_file(str(history))], False, api_name="/train_on_history")
        assert text.startswith("Trained on 48 question -> answer pairs"), text
        in_use = bot.status()["own_models"]["in_use"]
        assert {row[0]: row[1] == "yes" for row in own["data"]} == {k: k in in_use for k in
                                                                     ("embedder", "categories", "reranker")}
        assert all(row[3] for row in own["data"] if row[1] == "no")  # each model not in use says why
        chat, _, sources, _ = client.predict("internet crawls every night around 8pm", [], api_name="/ask")
        assert len(chat) == 2 and sources
    finally:
        demo.close()
