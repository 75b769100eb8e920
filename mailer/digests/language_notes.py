"""The short note beside an article a reader gets in another language than their own.

"(in French)" said in the reader's language. One phrase per pair keeps grammar right
(Russian and Persian decline or prefix the name) for the seven languages of the catalogues;
any other language (a catalogue added later) gets the language's name in the reader's
language from CLDR (Babel), "(Englisch)", so adding a language needs no code here.
"""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

_NOTES: dict[str, dict[str, str]] = {
    "en": {"en": "in English", "fr": "in French", "es": "in Spanish", "ru": "in Russian",
           "ar": "in Arabic", "fa": "in Persian", "tr": "in Turkish"},
    "fr": {"en": "en anglais", "fr": "en français", "es": "en espagnol", "ru": "en russe",
           "ar": "en arabe", "fa": "en persan", "tr": "en turc"},
    "es": {"en": "en inglés", "fr": "en francés", "es": "en español", "ru": "en ruso",
           "ar": "en árabe", "fa": "en persa", "tr": "en turco"},
    "ru": {"en": "на английском", "fr": "на французском", "es": "на испанском",
           "ru": "на русском", "ar": "на арабском", "fa": "на персидском", "tr": "на турецком"},
    "ar": {"en": "بالإنجليزية", "fr": "بالفرنسية", "es": "بالإسبانية", "ru": "بالروسية",
           "ar": "بالعربية", "fa": "بالفارسية", "tr": "بالتركية"},
    "fa": {"en": "به انگلیسی", "fr": "به فرانسوی", "es": "به اسپانیایی", "ru": "به روسی",
           "ar": "به عربی", "fa": "به فارسی", "tr": "به ترکی"},
    "tr": {"en": "İngilizce", "fr": "Fransızca", "es": "İspanyolca", "ru": "Rusça",
           "ar": "Arapça", "fa": "Farsça", "tr": "Türkçe"},
}  # fmt: skip


def in_language(article_language: str, reader_language: str) -> str:
    """ "(in French)" in the reader's language; CLDR's name of the language for a pair not
    listed; the code itself for a language nobody knows."""
    reader, article = reader_language.split("-")[0], article_language.split("-")[0]
    name = _NOTES.get(reader, {}).get(article)
    if name is None:
        try:
            name = Locale.parse(reader).languages.get(article)
        except (ValueError, UnknownLocaleError):
            name = _NOTES["en"].get(article)
    return f"({name or article_language})"
