"""Case markers: what gets marked, and that marking keeps each word's label on its first piece."""

from core.tasks import CASE_MARKS, get_task, mark_case

TITLE, UPPER = CASE_MARKS["title"], CASE_MARKS["upper"]


def test_mark_case_on_words_and_on_raw_text():
    assert mark_case(["EU", "rejects", "German", "call", ".", "I", "McDonald", "3M", "42"]) == [
        f"EU{UPPER}", "rejects", f"German{TITLE}", "call", ".", f"I{TITLE}", f"McDonald{TITLE}", f"3M{TITLE}", "42"]
    assert mark_case("Shares of NOKIA rose in São Paulo's market") == (
        f"Shares{TITLE} of NOKIA{UPPER} rose in São{TITLE} Paulo{TITLE}'s market")


def test_a_marked_tokenizer_keeps_word_alignment(tiny_base):
    from transformers import AutoModel, AutoTokenizer

    from core.tasks import add_case_markers, uses_case_markers

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    kind = get_task("token_classification")
    words = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
    plain = kind.tokenize(tokenizer, [words], None, 64)
    assert not uses_case_markers(tokenizer)

    model = AutoModel.from_pretrained(tiny_base)
    rows = model.get_input_embeddings().weight.shape[0]
    add_case_markers(tokenizer, model)
    assert uses_case_markers(tokenizer)
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) == rows + 2
    marked = kind.tokenize(tokenizer, [words], None, 64)
    pieces = tokenizer.convert_ids_to_tokens(marked["input_ids"][0])
    assert pieces[:6] == ["[CLS]", "eu", UPPER, "rejects", "german", TITLE]
    assert pieces.count(TITLE) == 2 and pieces.count(UPPER) == 1
    # each word's first piece is the same word piece as without markers; the marker follows it
    def firsts(encoding):
        ids, seen, out = encoding.word_ids(0), set(), []
        for position, word in enumerate(ids):
            if word is not None and word not in seen:
                seen.add(word)
                out.append(encoding["input_ids"][0][position])
        return out
    assert firsts(marked) == firsts(plain)
