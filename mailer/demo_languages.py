"""The demo in several languages: translations of demo stories, their digest texts, readers.

Written for this demo (short, invented news in the style of the network). The poet and
court stories exist in all seven languages, the annual report in four (en, fr, es, ru),
so Arabic, Persian and Turkish readers see a story marked as English; the digest's subject
and intro exist in five, so Persian and Turkish fall back to the English ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select

from mailer.articles import stories
from mailer.digests import variants
from mailer.extensions import db
from mailer.models import (
    Article,
    Digest,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from mailer.privacy import address_hash

# English slug -> language -> (title, summary)
TRANSLATIONS: dict[str, dict[str, tuple[str, str]]] = {
    "poet-freed": {
        "fr": (
            "La poétesse Lena Varga libérée à la faveur d'une amnistie surprise",
            "Détenue depuis deux ans pour un poème lu lors d'un mariage, la poétesse a été "
            "libérée mardi grâce à une amnistie de fête nationale. Nous demandons maintenant "
            "l'annulation de sa condamnation.",
        ),
        "es": (
            "La poeta Lena Varga sale en libertad tras una amnistía inesperada",
            "Encarcelada durante dos años por un poema leído en una boda, la poeta salió el "
            "martes gracias a una amnistía por la fiesta nacional. Ahora pedimos que se anule "
            "su condena.",
        ),
        "ru": (
            "Поэтесса Лена Варга вышла на свободу по неожиданной амнистии",
            "Два года проведя в заключении из-за стихотворения, прочитанного на свадьбе, "
            "поэтесса вышла во вторник по амнистии ко дню национального праздника. Теперь мы "
            "добиваемся отмены её приговора.",
        ),
        "ar": (
            "الإفراج عن الشاعرة لينا فارغا بعفو مفاجئ",
            "أُطلق سراح الشاعرة يوم الثلاثاء بموجب عفو بمناسبة العيد الوطني، بعد عامين من "
            "السجن بسبب قصيدة ألقتها في حفل زفاف. ونطالب الآن بإلغاء الحكم الصادر بحقها.",
        ),
        "fa": (
            "لنا وارگا، شاعر، با عفوی غیرمنتظره آزاد شد",
            "این شاعر که دو سال به خاطر شعری که در یک جشن عروسی خوانده بود زندانی بود، "
            "سه‌شنبه با عفو به مناسبت روز ملی آزاد شد. اکنون خواستار لغو حکم او هستیم.",
        ),
        "tr": (
            "Şair Lena Varga sürpriz bir afla serbest kaldı",
            "Bir düğünde okuduğu şiir yüzünden iki yıldır cezaevinde olan şair, ulusal bayram "
            "affıyla salı günü serbest bırakıldı. Şimdi mahkûmiyetinin bozulmasını istiyoruz.",
        ),
    },
    "court-ruling-blogger": {
        "fr": (
            "Une cour d'appel annule la condamnation d'un blogueur pour « fausses nouvelles »",
            "Dans une décision rare, les juges ont estimé que le billet d'un blogueur de voyage "
            "sur une autoroute inondée relevait du commentaire légitime, et non d'une menace "
            "pour l'ordre public.",
        ),
        "es": (
            "Un tribunal de apelación anula la condena de un bloguero por «noticias falsas»",
            "En un fallo poco común, los jueces consideraron que la publicación de un bloguero "
            "de viajes sobre una autopista inundada era una opinión legítima y no una amenaza "
            "para el orden público.",
        ),
        "ru": (
            "Апелляционный суд отменил приговор блогеру по делу о «фейках»",
            "В редком для таких дел решении судьи признали, что пост тревел-блогера о "
            "затопленном шоссе был допустимым мнением, а не угрозой общественному порядку.",
        ),
        "ar": (
            "محكمة الاستئناف تلغي إدانة مدوّن بتهمة «نشر أخبار كاذبة»",
            "في حكم نادر، رأى القضاة أن منشور مدوّن الرحلات عن طريق سريع غمرته المياه كان "
            "تعليقاً مشروعاً، لا تهديداً للنظام العام.",
        ),
        "fa": (
            "دادگاه تجدیدنظر حکم یک وبلاگ‌نویس را در پرونده «اخبار جعلی» لغو کرد",
            "قاضیان در رأیی کم‌سابقه اعلام کردند که نوشته یک وبلاگ‌نویس سفر درباره بزرگراهی "
            "که زیر آب رفته بود، اظهارنظری مشروع بوده و تهدیدی برای نظم عمومی نبوده است.",
        ),
        "tr": (
            "İstinaf mahkemesi bir blog yazarının 'yalan haber' mahkûmiyetini bozdu",
            "Nadir görülen bir kararla hâkimler, bir gezi blog yazarının sular altında kalan "
            "otoyol hakkındaki paylaşımının kamu düzenine tehdit değil, meşru bir yorum "
            "olduğuna hükmetti.",
        ),
    },
    "press-freedom-report": {
        "fr": (
            "Rapport annuel : 312 journalistes derrière les barreaux, et la peur derrière les "
            "chiffres",
            "Notre recensement annuel compte plus de journalistes emprisonnés que jamais, mais "
            "c'est l'autocensure qui progresse le plus : deux journalistes interrogés sur cinq "
            "ont renoncé à un sujet cette année.",
        ),
        "es": (
            "Informe anual: 312 periodistas entre rejas, y el miedo detrás de las cifras",
            "Nuestro recuento anual registra más periodistas encarcelados que nunca, pero lo que "
            "más crece es la autocensura: dos de cada cinco periodistas encuestados "
            "abandonaron un reportaje este año.",
        ),
        "ru": (
            "Ежегодный доклад: 312 журналистов за решёткой, и страх за этими цифрами",
            "По нашим ежегодным подсчётам, в заключении сейчас больше журналистов, чем когда-"
            "либо, но ещё быстрее растёт самоцензура: двое из пяти опрошенных журналистов в "
            "этом году отказались от материала.",
        ),
    },
}

# language -> (subject, intro) of the demo digest
DIGEST_TEXTS: dict[str, tuple[str, str]] = {
    "fr": (
        "L'essentiel de la semaine",
        "Cette semaine, une poétesse a retrouvé la liberté, un tribunal a donné raison à un "
        "blogueur, et notre recensement annuel montre combien de journalistes attendent encore "
        "la leur. Merci de nous lire et de partager ce qui compte.",
    ),
    "es": (
        "Lo esencial de la semana",
        "Esta semana una poeta recuperó la libertad, un tribunal dio la razón a un bloguero y "
        "nuestro recuento anual muestra cuántos periodistas siguen esperando la suya. Gracias "
        "por leernos y por compartir lo que importa.",
    ),
    "ru": (
        "Главное за неделю",
        "На этой неделе поэтесса вышла на свободу, суд встал на сторону блогера, а наш "
        "ежегодный подсчёт показывает, сколько журналистов всё ещё ждут своего часа. Спасибо, "
        "что читаете нас и делитесь важным.",
    ),
    "ar": (
        "أبرز أخبار الأسبوع",
        "هذا الأسبوع استعادت شاعرة حريتها، وأنصفت محكمة مدوّناً، ويكشف إحصاؤنا السنوي عدد "
        "الصحفيين الذين ما زالوا ينتظرون حريتهم. شكراً لقراءتكم ولمشاركتكم ما يهمّ.",
    ),
}

READERS = {
    "en": "Alex",
    "fr": "Camille",
    "es": "Lucía",
    "ru": "Ольга",
    "ar": "ليلى",
    "fa": "سارا",
    "tr": "Deniz",
}


def load_translations(
    image_url: Mapping[str, str | None], published: Mapping[str, datetime]
) -> int:
    """Add the demo stories' missing versions, linked to the English ones; how many were added.

    `image_url` and `published`: the English article's, by slug.
    """
    added = 0
    for slug, versions in TRANSLATIONS.items():
        original = db.session.scalar(
            select(Article).where(Article.link == f"https://news.example.org/{slug}")
        )
        if original is None:
            continue
        for language, (title, summary) in versions.items():
            link = f"https://news.example.org/{language}/{slug}"
            if db.session.scalar(select(Article.id).where(Article.link == link)) is not None:
                continue
            version = Article(
                guid=link,
                link=link,
                title=title,
                summary=summary,
                language=language,
                image_url=image_url.get(slug),
                image_alt=original.image_alt,
                image_credit=original.image_credit,
                published_at=published.get(slug, utcnow()),
            )
            db.session.add(version)
            db.session.flush()
            stories.link(version, original)
            added += 1
    return added


def add_digest_texts(digest: Digest) -> None:
    variants.save_texts(digest, DIGEST_TEXTS)


def load_readers(mailing_list: MailingList) -> int:
    """One confirmed demo reader per language on the list (example.org addresses)."""
    added = 0
    for language, name in READERS.items():
        email = f"reader-{language}@example.org"
        if db.session.scalar(select(Subscriber.id).where(Subscriber.email == email)):
            continue
        reader = Subscriber(
            email=email, address_hash=address_hash(email), name=name, language=language
        )
        reader.subscriptions.append(
            Subscription(
                mailing_list=mailing_list,
                status=SubscriptionStatus.confirmed,
                confirmed_at=utcnow(),
            )
        )
        db.session.add(reader)
        added += 1
    db.session.flush()
    return added
