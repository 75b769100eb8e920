"""Database models. No I/O, no Flask globals."""

from mailer.models.audit import AuditEvent
from mailer.models.base import UTCDateTime, enum_column, new_uid, utcnow
from mailer.models.bounces import BounceEvent, BounceKind, InboundMessage
from mailer.models.content import (
    EDITABLE,
    Article,
    Digest,
    DigestItem,
    DigestRendering,
    DigestStatus,
    DigestText,
    Story,
)
from mailer.models.delivery import Delivery, DeliveryStatus
from mailer.models.editors import (
    Editor,
    EditorInvite,
    EditorSession,
    LoginEvent,
    LoginThrottle,
    RecoveryCode,
    Role,
    TrustedDevice,
)
from mailer.models.imports import ImportStatus, SubscriberImport
from mailer.models.subscribers import (
    AddressMail,
    ConsentRecord,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)

__all__ = [
    "AddressMail",
    "EDITABLE",
    "Article",
    "AuditEvent",
    "BounceEvent",
    "BounceKind",
    "ConsentRecord",
    "Delivery",
    "DeliveryStatus",
    "Digest",
    "DigestItem",
    "DigestRendering",
    "DigestStatus",
    "DigestText",
    "Editor",
    "EditorInvite",
    "EditorSession",
    "ImportStatus",
    "InboundMessage",
    "LoginEvent",
    "LoginThrottle",
    "MailingList",
    "Role",
    "RecoveryCode",
    "Subscriber",
    "Story",
    "SubscriberImport",
    "Subscription",
    "SubscriptionStatus",
    "Suppression",
    "SuppressionReason",
    "TrustedDevice",
    "UTCDateTime",
    "enum_column",
    "new_uid",
    "utcnow",
]
