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
