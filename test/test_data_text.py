"""Text normalisation: idempotence, per-language rules, script filter; LanguageMap round trip."""
import random
import unicodedata
from pathlib import Path

import pytest

from prefixasr.data.lang import LanguageMap
from prefixasr.data.text import LANG_RULES, in_script, normalize_text

FIXTURE = Path(__file__).parent / "fixtures" / "data" / "sentences.tsv"


def fixture_sentences():
    rows = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            lang, text = line.split("\t")
            rows.append((lang, text))
    return rows


@pytest.mark.parametrize(
    "lang,raw,expected",
    [
        ("hi", "यह वाक्य है।  दूसरा॥", "यह वाक्य है दूसरा"),  # danda / double danda
        ("hi", "\u0958र", "\u0915\u093cर"),  # precomposed क़ → base + nukta
        ("hi", "\u0915\u093c\u093cर", "\u0915\u093cर"),  # doubled nukta collapsed
        ("bn", "\u09dfা", "\u09af\u09bcা"),  # য় → য + nukta
        ("ml", "അവന\u0d4d\u200d", "അവ\u0d7b"),  # old chillu encoding → atomic chillu
        ("hi", "क्\u200dष", "क्ष"),  # ZWJ removed
        ("ur", "\u0643\u062a\u0627\u0628", "\u06a9\u062a\u0627\u0628"),  # Arabic kaf → Urdu kaf
        ("ur", "\u06a9\u0650\u062a\u0627\u0628\u06d4", "\u06a9\u062a\u0627\u0628"),  # aerab + Urdu full stop
        ("as", "\u09b0\u09be\u09ae", "\u09f0\u09be\u09ae"),  # Bengali RA → Assamese RA
        ("ta", "Hello, உலகம்!", "hello உலகம்"),  # code-switched Latin lower-cased
        ("xx", "  A,b  ", "a b"),  # unknown language: generic rules
    ],
)
def test_normalize_cases(lang, raw, expected):
    assert normalize_text(raw, lang) == expected


def test_idempotent_on_fixtures_and_random_strings():
    for lang, text in fixture_sentences():
        once = normalize_text(text, lang)
        assert once and normalize_text(once, lang) == once
        assert unicodedata.is_normalized("NFC", once)
    rng = random.Random(0)
    pool = (
        [chr(c) for c in range(0x0900, 0x0980)] + [chr(c) for c in range(0x0980, 0x0A00)]
        + [chr(c) for c in range(0x0D00, 0x0D80)] + [chr(c) for c in range(0x0600, 0x0700)]
        + list("\u200c\u200d\u200b\ufeff ,.!?।॥-'\"AbÇİ") + ["\u0d28\u0d4d\u200d"]
    )
    for _ in range(3000):
        s = "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        for lang in ("hi", "bn", "ml", "ur", "as", "xx"):
            once = normalize_text(s, lang)
            assert normalize_text(once, lang) == once, (s, lang)


def test_in_script():
    assert in_script("यह वाक्य है।", "hi")
    assert not in_script("यह file है", "hi")
    assert not in_script("यह १२ है", "hi")  # digits are not read reliably by TTS
    assert not in_script("এটি", "hi")
    assert set(LANG_RULES) >= {"bn", "gu", "hi", "kn", "ml", "mr", "or", "pa", "ta", "te"}


def test_language_map_round_trip(tmp_path):
    m = LanguageMap.from_languages(["te", "hi", "bn", "hi"])
    assert len(m) == 3 and m.languages == ["bn", "hi", "te"]
    assert m.index("hi") == 1 and m.language(2) == "te" and "bn" in m
    m.save(tmp_path / "lang" / "lang2id.json")
    m2 = LanguageMap.load(tmp_path / "lang" / "lang2id.json")
    assert m2.lang2id == m.lang2id
    with pytest.raises(KeyError, match="unknown language 'xx'"):
        m.index("xx")
    with pytest.raises(ValueError):
        LanguageMap({"a": 0, "b": 2})
