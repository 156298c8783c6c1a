"""Text normalisation shared by training targets, LM text and scoring.

One function, `normalize_text(text, lang)`, so a transcript is spelled the same way wherever it is
compared. Rules (in this order):
  1. Unicode NFC. Composition-excluded nukta letters (क़ ড় ਖ਼ ଡ଼ …) therefore always become
     base + nukta, so both spellings of the same word score as equal.
  2. Per-language rewrites from `LANG_RULES` (Malayalam chillu, Assamese RA, Urdu kaf/yeh, …).
  3. Zero-width characters (ZWJ, ZWNJ, ZWSP, BOM) removed: they change rendering, not words.
  4. Danda, double danda and all other punctuation/symbols become spaces; a doubled nukta is
     collapsed; Latin (code-switched English) is lower-cased; whitespace is collapsed.
The function is idempotent: normalize_text(normalize_text(x, l), l) == normalize_text(x, l).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
NUKTAS = "\u093c\u09bc\u0a3c\u0abc\u0b3c\u0cbc"  # Devanagari, Bengali, Gurmukhi, Gujarati, Odia, Kannada


@dataclass(frozen=True)
class LangRule:
    """How one language is written: its script block (for filters) and its text rewrites."""

    script: str
    block: Tuple[int, int]  # inclusive Unicode range of the script's letters
    rewrites: Dict[str, str] = field(default_factory=dict)
    strip: str = ""  # characters deleted outright (e.g. optional Urdu vowel marks)


_DEVANAGARI = (0x0900, 0x097F)
_BENGALI = (0x0980, 0x09FF)
_ARABIC = (0x0600, 0x06FF)

# Malayalam: the old encoding of chillu letters (consonant + virama + ZWJ) → atomic chillu (Unicode 5.1+).
_ML_CHILLU = {
    "\u0d23\u0d4d\u200d": "\u0d7a",
    "\u0d28\u0d4d\u200d": "\u0d7b",
    "\u0d30\u0d4d\u200d": "\u0d7c",
    "\u0d32\u0d4d\u200d": "\u0d7d",
    "\u0d33\u0d4d\u200d": "\u0d7e",
    "\u0d15\u0d4d\u200d": "\u0d7f",
}

LANG_RULES: Dict[str, LangRule] = {
    "as": LangRule("Bengali", _BENGALI, {"\u09b0": "\u09f0"}),  # Bengali RA → Assamese RA ৰ
    "bn": LangRule("Bengali", _BENGALI),
    "gu": LangRule("Gujarati", (0x0A80, 0x0AFF)),
    "hi": LangRule("Devanagari", _DEVANAGARI),
    "kn": LangRule("Kannada", (0x0C80, 0x0CFF)),
    "ml": LangRule("Malayalam", (0x0D00, 0x0D7F), _ML_CHILLU),
    "mr": LangRule("Devanagari", _DEVANAGARI),
    "ne": LangRule("Devanagari", _DEVANAGARI),
    "or": LangRule("Oriya", (0x0B00, 0x0B7F)),
    "pa": LangRule("Gurmukhi", (0x0A00, 0x0A7F)),
    "ta": LangRule("Tamil", (0x0B80, 0x0BFF)),
    "te": LangRule("Telugu", (0x0C00, 0x0C7F)),
    # Urdu: Arabic kaf/yeh → Urdu forms; optional short-vowel marks (aerab) are dropped.
    "ur": LangRule(
        "Arabic", _ARABIC, {"\u0643": "\u06a9", "\u064a": "\u06cc", "\u0649": "\u06cc"},
        strip="".join(chr(c) for c in range(0x064B, 0x0653)),
    ),
    "en": LangRule("Latin", (0x0041, 0x024F)),
}

_SPACES = re.compile(r"\s+")
_DOUBLE_NUKTA = re.compile(f"([{NUKTAS}])\\1+")


def _is_separator(ch: str) -> bool:
    # Punctuation (incl. danda U+0964/U+0965, Urdu full stop U+06D4), symbols and controls split words.
    cat = unicodedata.category(ch)
    return cat[0] in "PSZ" or cat in ("Cc", "Cf", "Co", "Cn")


def normalize_text(text: str, lang: str) -> str:
    """Normalise `text` written in language `lang` (ISO 639-1; unknown codes get the generic rules)."""
    rule = LANG_RULES.get(lang)
    text = unicodedata.normalize("NFC", text)
    if rule is not None:
        for src, dst in rule.rewrites.items():
            text = text.replace(src, dst)
        if rule.strip:
            text = text.translate({ord(c): None for c in rule.strip})
    text = text.translate({ord(c): None for c in ZERO_WIDTH})
    text = "".join(" " if _is_separator(c) else c for c in text)
    text = _DOUBLE_NUKTA.sub(r"\1", text)
    text = unicodedata.normalize("NFC", text.lower())
    return _SPACES.sub(" ", text).strip()


def in_script(text: str, lang: str) -> bool:
    """True when every letter/mark of `text` is in `lang`'s script block (spaces and punctuation allowed).

    Used by the text harvest to keep only native-script sentences (no Latin, digits or stray scripts).
    """
    rule = LANG_RULES[lang]
    lo, hi = rule.block
    for ch in text:
        if ch.isspace() or _is_separator(ch) or ch in ZERO_WIDTH:
            continue
        if not lo <= ord(ch) <= hi or unicodedata.category(ch) == "Nd":
            return False
    return True


def script_languages(text: str, languages: Sequence[str]) -> List[str]:
    """The languages (of `languages`) whose script holds the most letters of `text`; all of them when no
    letter of `text` is in any of their scripts. Languages without a rule are always kept."""
    counts = {}
    for lang in languages:
        rule = LANG_RULES.get(lang)
        if rule is not None:
            lo, hi = rule.block
            counts[lang] = sum(lo <= ord(ch) <= hi for ch in text)
    best = max(counts.values(), default=0)
    if best == 0:
        return list(languages)
    return [lang for lang in languages if counts.get(lang, best) == best]
