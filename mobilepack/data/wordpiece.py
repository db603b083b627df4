"""WordPiece: BERT's tokenizer, from text to the three inputs of a BERT-style model.

The steps, in order (the Android and iOS apps' ``Tokenizer`` implement the same ones, and
tests/test_android_jvm.py checks the Kotlin against this module id by id):

1. **clean**: drop U+0000, U+FFFD and the control, format, surrogate and private-use characters
   (categories Cc, Cf, Cs, Co) except tab, newline and carriage return (unassigned code points
   stay: which ones are unassigned depends on the Unicode version of the platform); every whitespace character (those three, space, categories Zs,
   Zl, Zp) becomes a space;
2. **lower-case and strip accents** (uncased vocabularies only): each code point is lower-cased on
   its own (Unicode's full mapping, no context: "Σ" is always "σ", as HuggingFace's tokenizer does),
   the text is decomposed (NFD) and the non-spacing marks (category Mn) are dropped;
3. **split**: on spaces, and around every CJK ideograph (the CJK blocks BERT lists) and every
   punctuation character (ASCII 33-47, 58-64, 91-96, 123-126, and Unicode categories P*), each of
   which becomes a word of its own;
4. **WordPiece**: each word is cut greedily into the longest pieces in the vocabulary, left to
   right, pieces after the first carrying the ``##`` prefix; a word with a part that matches
   nothing, or longer than 100 code points, is one ``[UNK]``;
5. **encode**: ``[CLS]`` pieces ``[SEP]``, cut to the sequence length (``[SEP]`` stays last) and
   padded with id 0; the mask is 1 for real tokens and 0 for padding; segment ids are 0 (one sentence).

The vocabulary is a list of tokens in id order (``vocab.txt``: one token per line, ``\\n``
separated; a trailing ``\\r`` and a leading byte-order mark are dropped; the first line with a
token gives its id).  Text that spells a special token (``"[CLS]"``) is ordinary text here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

MAX_WORD_CHARS = 100
CONTINUATION = "##"
UNKNOWN, START, END = "[UNK]", "[CLS]", "[SEP]"

# The CJK Unified Ideographs blocks and extensions A-E plus the compatibility ideographs, as BERT
# lists them (Hangul, Hiragana and Katakana are not among them: they are split on spaces only).
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
# ASCII symbols BERT treats as punctuation although Unicode calls some of them symbols ($, +, <, ^, `).
ASCII_PUNCTUATION = ((33, 47), (58, 64), (91, 96), (123, 126))
WHITESPACE_CATEGORIES = ("Zs", "Zl", "Zp")
DROPPED_CATEGORIES = ("Cc", "Cf", "Cs", "Co")


def is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) in WHITESPACE_CATEGORIES


def is_dropped(ch: str) -> bool:
    """NUL, the replacement character, and control, format, surrogate and private-use characters
    that are not whitespace."""
    return ch in "\x00\ufffd" or (unicodedata.category(ch) in DROPPED_CATEGORIES and ch not in "\t\n\r")


def is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(low <= cp <= high for low, high in CJK_RANGES)


def is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    return any(low <= cp <= high for low, high in ASCII_PUNCTUATION) or unicodedata.category(ch).startswith("P")


def clean(text: str) -> str:
    """Step 1: control characters dropped, whitespace made a plain space."""
    return "".join(" " if is_whitespace(ch) else ch for ch in text if not is_dropped(ch))


def fold(text: str) -> str:
    """Step 2: each code point lower-cased alone, then NFD without non-spacing marks."""
    lowered = "".join(ch.lower() for ch in text)
    return "".join(ch for ch in unicodedata.normalize("NFD", lowered) if unicodedata.category(ch) != "Mn")


def split_words(text: str) -> list[str]:
    """Step 3: words between spaces; each CJK ideograph and punctuation character alone."""
    words: list[str] = []
    word: list[str] = []
    for ch in text:
        if ch == " " or is_cjk(ch) or is_punctuation(ch):
            if word:
                words.append("".join(word))
                word = []
            if ch != " ":
                words.append(ch)
        else:
            word.append(ch)
    if word:
        words.append("".join(word))
    return words


def read_vocabulary(data: bytes) -> list[str]:
    """Tokens in id order from ``vocab.txt`` bytes (UTF-8, one token per ``\\n``-separated line)."""
    text = data.decode("utf-8").removeprefix("\ufeff")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()        # the newline that ends the last line starts no token
    return [line.removesuffix("\r") for line in lines]


def is_cased(tokens: Iterable[str]) -> bool:
    """Whether a vocabulary keeps upper case (a cased BERT): a token other than the bracketed
    special ones (``[CLS]``, ``[unused0]``) changes when lower-cased."""
    return any(t != t.lower() for t in tokens if not (t.startswith("[") and t.endswith("]")))


class Encoding(NamedTuple):
    """A BERT model's three inputs for one text, each ``length`` long."""

    ids: tuple[int, ...]
    mask: tuple[int, ...]
    segment_ids: tuple[int, ...]


class WordPiece:
    """BERT's tokenizer over one vocabulary; see the module docstring for the steps."""

    def __init__(self, tokens: Sequence[str], lower_case: bool = True) -> None:
        self.tokens = list(tokens)
        self.lower_case = lower_case
        self.ids: dict[str, int] = {}
        for i, token in enumerate(self.tokens):
            self.ids.setdefault(token, i)
        missing = [t for t in (UNKNOWN, START, END) if t not in self.ids]
        if missing:
            raise ValueError(f"the WordPiece vocabulary has no {', '.join(missing)}")

    @classmethod
    def from_file(cls, path: str | Path, lower_case: bool | None = None) -> WordPiece:
        """From ``vocab.txt``; ``lower_case=None`` reads it from the vocabulary (:func:`is_cased`)."""
        tokens = read_vocabulary(Path(path).read_bytes())
        return cls(tokens, not is_cased(tokens) if lower_case is None else lower_case)

    def words(self, text: str) -> list[str]:
        """Steps 1-3: the words WordPiece cuts."""
        text = clean(text)
        return split_words(fold(text) if self.lower_case else text)

    def pieces(self, word: str) -> list[str]:
        """Step 4: greedy longest-match-first pieces of one word, or ``[UNK]``."""
        if len(word) > MAX_WORD_CHARS:
            return [UNKNOWN]
        out: list[str] = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = (CONTINUATION if start else "") + word[start:end]
                if piece in self.ids:
                    out.append(piece)
                    start = end
                    break
            else:
                return [UNKNOWN]
        return out

    def tokenize(self, text: str) -> list[str]:
        return [piece for word in self.words(text) for piece in self.pieces(word)]

    def encode(self, text: str, length: int) -> Encoding:
        """Step 5: ``[CLS]`` + the pieces' ids (cut to fit) + ``[SEP]``, padded with 0 to ``length``."""
        if length < 2:
            raise ValueError(f"a BERT input holds at least [CLS] and [SEP]; length {length} is too short")
        ids = [self.ids[t] for t in self.tokenize(text)][:length - 2]
        ids = [self.ids[START], *ids, self.ids[END]]
        pad = length - len(ids)
        return Encoding(tuple(ids) + (0,) * pad, (1,) * len(ids) + (0,) * pad, (0,) * length)
