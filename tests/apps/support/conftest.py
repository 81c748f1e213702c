"""A tiny hand-made help centre and one real MiniLM embedder shared by the whole session."""

from __future__ import annotations

import json

import pytest

CARDS = """<!-- intent: card_arrival; category: Cards -->
# Card delivery

## When your card arrives
Standard delivery of a new card takes 3-5 working days in the UK. Express delivery costs £5.

## If the card is lost in the post
If your card has not arrived after 10 working days, report it as not arrived and we send a free replacement.
"""
TRANSFERS = """<!-- intent: transfer_fee_charged; category: Transfers -->
# Transfer fees

## SWIFT transfers
An international SWIFT transfer costs £5. Domestic transfers in pounds are free.

| Transfer | Fee |
| --- | --- |
| SWIFT | £5 |
| SEPA | free |
"""
ACCOUNTS = """# Account types

## Replacement cards
A replacement card costs £5 on a personal account.
On a business account a replacement card costs £10 and arrives by express courier.
"""
HTML = """<!DOCTYPE html><html><head><title>Contact | Test Bank</title><script>var x = "do not index me";</script>
</head><body><nav><a href="/">Home navigation link</a></nav><main><h1>Contact us</h1>
<h2>Phone</h2><p>Call the support line on 0100 000 000, Monday to Friday.</p>
<h2>Opening hours</h2><table><tr><th>Channel</th><th>Hours</th></tr><tr><td>Chat</td><td>24 hours</td></tr></table>
</main><footer><p>Footer boilerplate copyright</p></footer></body></html>"""
FAQ_ROWS = [
    ("How do I freeze my card?", "Tap Cards, then Freeze. Unfreeze it the same way.", "card_security"),
    ("Can I change my PIN?", "Yes, at any cash machine under PIN services.", "change_pin"),
    ("Is there a monthly fee?", "Personal accounts are free; business accounts cost £7 a month.", "account_fees"),
]


def write_kb(folder):
    """The tiny base: Markdown (with intent labels), text, HTML, FAQ CSV and FAQ JSONL."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cards.md").write_text(CARDS, encoding="utf-8")
    (folder / "transfers.md").write_text(TRANSFERS, encoding="utf-8")
    (folder / "accounts.md").write_text(ACCOUNTS, encoding="utf-8")
    (folder / "savings.txt").write_text("Savings pots\n\nA savings pot pays 2% interest a year, paid monthly.\n\n"
                                        "You can open up to ten pots and withdraw at any time.", encoding="utf-8")
    (folder / "contact.html").write_text(HTML, encoding="utf-8")
    with open(folder / "faq.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer", "intent"])
        writer.writerows(FAQ_ROWS)
    (folder / "more.jsonl").write_text(
        "\n".join(json.dumps({"question": q, "answer": a, "category": "General"}) for q, a in [
            ("How do I close my account?", "Go to Profile, Account, Close account. Move your money out first."),
            ("Do you offer loans?", "We do not offer loans or overdrafts at the moment."),
        ]) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def embedder(tmp_path_factory):
    from core.embedding import Embedder, base_embedder_artifact

    artifact = base_embedder_artifact("minilm", home=tmp_path_factory.mktemp("home"))
    embedder = Embedder(artifact, backend="torch")
    embedder.encode(["warm"])
    return embedder


@pytest.fixture
def docs(tmp_path):
    return write_kb(tmp_path / "docs")


def make_bot(folder, embedder, **changes):
    from apps.support import SupportBot, SupportConfig

    options = {"kb": str(folder), "embedder": str(embedder.artifact), "intent_model": "", "reranker": "",
               "scope_threshold": 0.35, **changes}
    return SupportBot(SupportConfig(**options), embedder=embedder)


@pytest.fixture
def bot(tmp_path, docs, embedder):
    bot = make_bot(tmp_path / "kb", embedder).warm_up()
    report = bot.ingest([docs])
    assert not report.skipped, report.summary()
    return bot


@pytest.fixture(scope="module")
def shared_bot(tmp_path_factory, embedder):
    """One base for the tests that only ask (each in its own conversation)."""
    folder = tmp_path_factory.mktemp("shared")
    bot = make_bot(folder / "kb", embedder).warm_up()
    report = bot.ingest([write_kb(folder / "docs")])
    assert not report.skipped, report.summary()
    return bot
