"""Native-script sentences from the translation catalogs inside Debian packages (no installs).

`apt-get download` fetches .deb files into a cache dir; `dpkg-deb --fsys-tarfile` streams their
contents; gettext `.mo` catalogs (GNOME/GTK/LibreOffice) and Firefox language packs (`.ftl`,
`.properties` inside an .xpi zip) are read in memory. Each translation is split into sentences and
kept when it is 4–30 words of the language's own script (no Latin, digits, placeholders or markup).
The English `msgid` side gives short English phrases for optional code-switching.
The harvested text stays on the user's machine (program licences); never commit it.
"""
from __future__ import annotations

import io
import logging
import re
import struct
import subprocess
import tarfile
import unicodedata
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Set, Tuple

from prefixasr.common import PathLike, atomic_write
from prefixasr.data.text import LANG_RULES, in_script, normalize_text

# Debian package names per language: LibreOffice and Firefox packs use their own locale names.
_LO = {"pa": "pa-in"}
_FF = {"gu": "gu-in", "hi": "hi-in", "pa": "pa-in", "ne": "ne-np"}
_FF_MISSING = {"or", "ml", "as"}  # no firefox-esr-l10n package in Debian 12
_LO_MISSING = {"ur"}
# gettext catalogs shared by all languages (one download each, many languages inside).
SHARED_PACKAGES = {
    "mini": ["iso-codes", "libgtk-3-common", "nautilus-data", "gnome-control-center-data"],
    "full": [
        "iso-codes", "libgtk-3-common", "nautilus-data", "gnome-control-center-data", "evolution-common",
        "inkscape", "gimp-data", "synaptic", "gparted-common", "xfce4-panel", "gnucash-common",
        "pidgin-data", "plasma-workspace-data", "dolphin", "konsole", "gnome-user-docs",
    ],
}
# The test_unseen split's text source: catalogs of programs no training preset reads (a chat client and a
# mail client), so its sentences come from another source than anything trained on.
UNSEEN_PACKAGES = ["pidgin-data", "evolution-common"]
_BAD_CHARS = set("_&~@#$%^*<>{}[]|\\/=+®™©\"")
_SENT_SPLIT = re.compile(r"(?<=[।॥.?!।])\s+|\n+")
_EN_PHRASE = re.compile(r"^[A-Za-z]+(?: [A-Za-z]+){0,2}$")


def packages_for(languages: Iterable[str], preset: str) -> List[str]:
    """The Debian packages to download for these languages (`mini` keeps the download small)."""
    pkgs = list(SHARED_PACKAGES[preset])
    for lang in languages:
        if lang not in _LO_MISSING:
            pkgs.append(f"libreoffice-l10n-{_LO.get(lang, lang)}")
        if lang not in _FF_MISSING:
            pkgs.append(f"firefox-esr-l10n-{_FF.get(lang, lang)}")
    return pkgs


def download_packages(packages: List[str], deb_dir: PathLike) -> List[Path]:
    """`apt-get download` the packages not yet in `deb_dir` (the cache makes reruns free)."""
    deb_dir = Path(deb_dir)
    deb_dir.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("_")[0] for p in deb_dir.glob("*.deb")}
    missing = [p for p in packages if p not in have]
    if missing:
        logging.info("apt-get download %d package(s) into %s", len(missing), deb_dir)
        proc = subprocess.run(["apt-get", "download", *missing], cwd=deb_dir, capture_output=True, text=True)
        if proc.returncode != 0:
            # One unknown package must not lose the others: retry one by one and report failures.
            for pkg in missing:
                r = subprocess.run(["apt-get", "download", pkg], cwd=deb_dir, capture_output=True, text=True)
                if r.returncode != 0:
                    logging.warning("skipped package %s: %s", pkg, r.stderr.strip().splitlines()[-1:])
    return sorted(p for p in deb_dir.glob("*.deb") if p.name.split("_")[0] in set(packages))


def parse_mo(data: bytes) -> Iterator[Tuple[str, str]]:
    """(msgid, msgstr) pairs of a gettext .mo file (first plural form; context prefix removed)."""
    if len(data) < 28:
        return
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic == 0x950412DE else ">"
    _, n, orig_off, trans_off = struct.unpack(endian + "4I", data[4:20])
    for i in range(n):
        olen, opos = struct.unpack(endian + "2I", data[orig_off + 8 * i: orig_off + 8 * i + 8])
        tlen, tpos = struct.unpack(endian + "2I", data[trans_off + 8 * i: trans_off + 8 * i + 8])
        try:
            msgid = data[opos: opos + olen].decode("utf-8").split("\x00")[0].split("\x04")[-1]
            msgstr = data[tpos: tpos + tlen].decode("utf-8").split("\x00")[0]
        except UnicodeDecodeError:
            continue
        if msgid and msgstr:
            yield msgid, msgstr


def _locale_lang(parts: List[str]) -> str | None:
    # .../locale/<ll_CC@variant>/LC_MESSAGES/x.mo and LibreOffice's .../resource/<ll>/LC_MESSAGES/x.mo
    if "LC_MESSAGES" in parts:
        code = parts[parts.index("LC_MESSAGES") - 1]
        return re.split(r"[_@.-]", code)[0]
    return None


def _ftl_values(text: str) -> Iterator[str]:
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "-")):
            yield line.split("=", 1)[1].strip()


def read_catalogs(deb: Path, languages: Set[str]) -> Iterator[Tuple[str, str, str]]:
    """(lang, english_or_empty, translation) triples from one .deb, streamed without unpacking to disk."""
    proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:") as tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = member.name.split("/")
            if member.name.endswith(".mo"):
                lang = _locale_lang(parts)
                if lang in languages:
                    # iso-codes msgids are names (languages, currencies), not English phrases.
                    keep_en = not parts[-1].startswith("iso_")
                    for msgid, msgstr in parse_mo(tar.extractfile(member).read()):
                        yield lang, msgid if keep_en else "", msgstr
            elif member.name.endswith(".xpi") and "langpack-" in member.name:
                lang = parts[-1].split("langpack-")[1].split("@")[0].split("-")[0]
                if lang in languages:
                    with zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read())) as z:
                        for name in z.namelist():
                            if name.endswith((".ftl", ".properties")):
                                for value in _ftl_values(z.read(name).decode("utf-8", "replace")):
                                    yield lang, "", value


def clean_sentences(text: str, lang: str, min_words: int = 4, max_words: int = 30) -> List[str]:
    """Sentences of `text` worth speaking: NFC, own script only, min..max words, no markup/symbols."""
    out = []
    for sent in _SENT_SPLIT.split(unicodedata.normalize("NFC", text)):
        sent = " ".join(sent.split())
        if not sent or _BAD_CHARS & set(sent) or not in_script(sent, lang):
            continue
        if min_words <= len(normalize_text(sent, lang).split()) <= max_words:
            out.append(sent)
    return out


def harvest(deb_paths: List[Path], languages: List[str]) -> Tuple[Dict[str, List[str]], List[str]]:
    """Sentences per language (deduplicated on their normalised form, sorted) and English phrases."""
    unknown = [l for l in languages if l not in LANG_RULES]
    if unknown:
        raise ValueError(f"no script rules for language(s) {unknown} in prefixasr.data.text.LANG_RULES")
    seen: Dict[str, Dict[str, str]] = defaultdict(dict)
    english: Set[str] = set()
    for deb in deb_paths:
        for lang, msgid, msgstr in read_catalogs(deb, set(languages)):
            for sent in clean_sentences(msgstr, lang):
                seen[lang].setdefault(normalize_text(sent, lang), sent)
            phrase = msgid.strip().rstrip(".:")
            if _EN_PHRASE.match(phrase):
                english.add(phrase.lower())
    sentences = {lang: sorted(seen[lang].values()) for lang in languages}
    return sentences, sorted(english)


def harvest_cached(languages: List[str], preset: str, download_dir: PathLike) -> Tuple[Dict[str, List[str]], List[str]]:
    """Harvest once into `<download_dir>/text/<preset>/<lang>.txt` (+ `en_phrases.txt`); later calls read the cache.

    preset "unseen" harvests UNSEEN_PACKAGES (the test_unseen split's text source).
    """
    text_dir = Path(download_dir) / "text" / preset
    wanted = [text_dir / f"{lang}.txt" for lang in languages] + [text_dir / "en_phrases.txt"]
    if not all(p.is_file() for p in wanted):
        packages = UNSEEN_PACKAGES if preset == "unseen" else packages_for(languages, preset)
        debs = download_packages(packages, Path(download_dir) / "debs")
        sentences, english = harvest(debs, languages)
        for lang, sents in sentences.items():
            with atomic_write(text_dir / f"{lang}.txt") as f:
                f.writelines(s + "\n" for s in sents)
        with atomic_write(text_dir / "en_phrases.txt") as f:
            f.writelines(s + "\n" for s in english)
    return read_text_dir(text_dir, languages)


def read_text_dir(text_dir: PathLike, languages: List[str]) -> Tuple[Dict[str, List[str]], List[str]]:
    """Sentences from `<text_dir>/<lang>.txt` (one a line, `#` comments) and optional `en_phrases.txt`."""
    text_dir = Path(text_dir)

    def lines(p: Path) -> List[str]:
        return [l.strip() for l in p.read_text(encoding="utf-8").splitlines() if l.strip() and not l.startswith("#")]

    sentences = {}
    for lang in languages:
        path = text_dir / f"{lang}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"no sentences for language {lang!r}: {path} is missing")
        sentences[lang] = [unicodedata.normalize("NFC", s) for s in lines(path)]
    en = text_dir / "en_phrases.txt"
    return sentences, lines(en) if en.is_file() else []
