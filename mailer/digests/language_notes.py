"""The short note beside an article a reader gets in another language than their own.

"(in French)" said in the reader's language. One phrase per pair keeps grammar right
(Russian and Persian decline or prefix the name); the i18n catalogues may take these over
as seven msgids ("(in English)", "(in French)", ...) translated in each language.
"""

from __future__ import annotations

RTL = frozenset({"ar", "fa", "he", "ur"})

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


def direction(language: str) -> str:
    """ "rtl" for a right-to-left language, else "ltr"."""
    return "rtl" if language.split("-")[0] in RTL else "ltr"


def in_language(article_language: str, reader_language: str) -> str:
    """ "(in French)" in the reader's language; the code itself for a language not listed."""
    notes = _NOTES.get(reader_language.split("-")[0], _NOTES["en"])
    name = notes.get(article_language.split("-")[0])
    return f"({name})" if name else f"({article_language})"
