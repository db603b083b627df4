"""Calibration and held-out data for the zoo's all-MiniLM-L6-v2 (tests/zoo/models.toml): real English
sentences tokenized to BERT ids with the model's own vocabulary, saved as ``.npz`` with
``input_ids``, ``attention_mask`` and ``token_type_ids`` ([N, 128] int32 each).

    python tests/zoo/minilm_data.py          # check that tests/zoo/data/*.npz are what this makes
    python tests/zoo/minilm_data.py --write  # (re)write them

The vocabulary is the ``vocab.txt`` that tests/zoo/fetch.py writes beside the built model.

TEST CODE: ``wordpiece`` below is a small greedy BERT WordPiece (uncased: clean, lower-case, strip
accents, split punctuation, longest-match-first pieces) written only to make this test data; it is
not mobilepack's tokenizer (mobilepack.data.wordpiece, where present, is the one the apps match)."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CALIBRATION = DATA / "minilm_calibration.npz"
HELDOUT = DATA / "minilm_heldout.npz"
SEQ = 128

# varied English: news, science, instructions, questions, dialogue, reviews, fiction, two long passages
# (over 128 pieces, so every position and a fully set mask are calibrated)
CALIBRATION_SENTENCES = [
    "The weather forecast calls for heavy rain throughout the weekend.",
    "How do I reset my password if I no longer have access to my email?",
    "She played the violin at the concert hall last night.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The stock market fell sharply after the central bank raised interest rates.",
    "Preheat the oven to 200 degrees and bake the bread for thirty minutes.",
    "A cat is sleeping on the windowsill in the afternoon sun.",
    "The committee will publish its final report early next year.",
    "I can't believe how quickly the summer went by!",
    "Mount Everest is the highest mountain above sea level.",
    "Please turn off your phones before the movie starts.",
    "The new smartphone has a larger battery and a brighter screen.",
    "Children were playing football in the park after school.",
    "This restaurant serves the best ramen I have ever tasted.",
    "The spacecraft entered orbit around Mars after a seven-month journey.",
    "Can you recommend a good book about the history of Rome?",
    "The train to Berlin was delayed by two hours because of snow.",
    "Regular exercise lowers the risk of heart disease.",
    "He fixed the leaking faucet with a wrench and some tape.",
    "The museum's new exhibition features paintings by Claude Monet.",
    "Our flight was cancelled, so we spent the night at the airport.",
    "Vaccines train the immune system to recognize a virus.",
    "The software update fixes several security vulnerabilities.",
    "Two dogs are running through a field of tall grass.",
    "The old lighthouse has guided ships along this coast for a century.",
    "Where is the nearest pharmacy that is open on Sundays?",
    "The orchestra rehearsed Beethoven's Ninth Symphony all afternoon.",
    "Café owners in Zürich complained about the new naïve tax rules.",
    "Add two cups of flour, one egg and a pinch of salt, then stir well.",
    "The detective noticed a faint footprint near the garden gate.",
    ("The history of the printing press begins with Johannes Gutenberg, who around 1440 combined movable metal "
     "type, oil-based ink and a wooden screw press into a system that could produce books far faster than scribes "
     "copying by hand. Within a few decades printing shops had spread across Europe, prices of books fell, literacy "
     "rose, and ideas travelled faster than ever before, which historians link to the Reformation, the scientific "
     "revolution and the growth of newspapers, pamphlets and public debate in the centuries that followed. Later "
     "inventions such as the steam-powered rotary press, the linotype machine and offset lithography made printing "
     "cheaper still, until daily newspapers with hundreds of thousands of copies became an ordinary part of life."),
    ("When you set up a new wireless router, first connect it to the modem with an ethernet cable, then plug in the "
     "power adapter and wait until the status light turns solid green. Open a browser on a computer that is "
     "connected to the router, type the address printed on the label underneath, and sign in with the default "
     "password. Change that password immediately, choose a name for your network, select WPA3 encryption if your "
     "devices support it, and finally install any firmware update that the setup page offers. If the internet "
     "connection still does not work, restart both the modem and the router, check that the cables are firmly "
     "seated, and call your provider to confirm that the line is active."),
]

HELDOUT_SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "A man is riding a horse.",
    "A woman is playing the guitar.",
    "The quarterly earnings exceeded analysts' expectations.",
    "Heavy snowfall closed the mountain pass overnight.",
    "Is there a vegetarian option on the menu?",
    "The chemical reaction releases a large amount of heat.",
    "My grandmother taught me how to knit when I was seven.",
    "The bridge was closed for repairs after the earthquake.",
    "Researchers discovered a new species of frog in the rainforest.",
    "Don't forget to water the plants while I'm away.",
    "The referee blew the whistle and the match was over.",
    "Solar panels on the roof now supply most of the house's electricity.",
    "Which platform does the train to Edinburgh leave from?",
    ("The city council met on Tuesday evening to discuss the proposal for a new public library in the old "
     "warehouse district. Supporters argued that the building would give students a quiet place to study, host "
     "community events and attract small businesses to the neighbourhood, while critics worried about the cost of "
     "renovating the structure, the lack of parking nearby and whether the budget could also cover staff and new "
     "books over the next ten years. After three hours of debate the council postponed the vote until next month, "
     "asked the planning office for a detailed estimate of the renovation, and invited residents to send their "
     "comments by email or to speak at an open meeting that will be held in the town hall."),
]


def read_vocab(path: Path) -> dict[str, int]:
    tokens = path.read_text(encoding="utf-8").splitlines()
    return {t: i for i, t in enumerate(tokens)}


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _words(text: str) -> list[str]:
    """BERT's basic tokenizer (uncased): clean, lower-case, strip accents, split on spaces and punctuation."""
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ord(ch) not in (0, 0xFFFD) and unicodedata.category(ch) not in ("Cc", "Cf") or ch in "\t\n\r")
    out = []
    for word in text.lower().split():
        word = "".join(ch for ch in unicodedata.normalize("NFD", word) if unicodedata.category(ch) != "Mn")
        current = ""
        for ch in word:
            if _is_punctuation(ch):
                out += [current] if current else []
                out.append(ch)
                current = ""
            else:
                current += ch
        out += [current] if current else []
    return out


def wordpiece(text: str, vocab: dict[str, int]) -> list[str]:
    """Greedy longest-match-first WordPiece pieces of ``text`` (no [CLS]/[SEP])."""
    pieces = []
    for word in _words(text):
        if len(word) > 100:
            pieces.append("[UNK]")
            continue
        start, sub = 0, []
        while start < len(word):
            end = len(word)
            while end > start and (("##" if start else "") + word[start:end]) not in vocab:
                end -= 1
            if end == start:
                sub = ["[UNK]"]
                break
            sub.append(("##" if start else "") + word[start:end])
            start = end
        pieces += sub
    return pieces


def encode(sentences: list[str], vocab: dict[str, int], seq: int = SEQ) -> dict[str, np.ndarray]:
    ids = np.zeros((len(sentences), seq), np.int32)
    for row, text in enumerate(sentences):
        tokens = ["[CLS]", *wordpiece(text, vocab)[:seq - 2], "[SEP]"]
        ids[row, :len(tokens)] = [vocab[t] for t in tokens]
    return {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int32),
            "token_type_ids": np.zeros_like(ids)}


def _vocab_path() -> Path:
    sys.path.insert(0, str(HERE))
    from fetch import load_zoo

    return next(m for m in load_zoo() if m.id == "all_minilm_l6_v2").vocab_path


def main(argv: list[str]) -> int:
    vocab = read_vocab(_vocab_path())
    differ = []
    for path, sentences in ((CALIBRATION, CALIBRATION_SENTENCES), (HELDOUT, HELDOUT_SENTENCES)):
        arrays = encode(sentences, vocab)
        if "--write" in argv:
            DATA.mkdir(exist_ok=True)
            np.savez_compressed(path, **arrays)
            print(f"{path.relative_to(HERE.parent.parent)}: {len(sentences)} sentences, "
                  f"{int(arrays['attention_mask'].sum())} tokens")
        else:
            with np.load(path) as have:
                same = sorted(have.files) == sorted(arrays) and all(np.array_equal(have[k], v) for k, v in arrays.items())
            if not same:
                differ.append(path.name)
    if differ:
        print(f"differ from what {Path(__file__).name} makes: {', '.join(differ)} (run it with --write)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
