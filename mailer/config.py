"""Default settings. Only data: the factory applies the environment and overrides."""

from __future__ import annotations

from datetime import timedelta

# "production" or "development". Development enables /dev/outbox and a generated SECRET_KEY.
MAILER_ENV = "production"

SECRET_KEY: str | None = None  # at least 32 bytes in production, not guessable (keys.py)
# Old keys, newest first: they still verify links, VERP addresses and sessions, never sign.
# Env: separated by whitespace or commas. Needs ADDRESS_HASH_KEY (README, Keys and rotation).
SECRET_KEY_FALLBACKS: list[str] = []
# Key for the keyed hashes of addresses and IPs (suppression list, tokens, consent).
# Defaults to a key derived from SECRET_KEY; must be set to rotate SECRET_KEY (fallbacks),
# or the suppression list would be lost: `mailer keys address-hash-key` prints today's.
ADDRESS_HASH_KEY: str | None = None

DATABASE_URL: str | None = None  # default: sqlite:///<instance>/mailer.db
# Database connections each process keeps open (0: SQLAlchemy's 5, and up to 10 more opened
# and closed as needed). gunicorn.conf.py sets it to the threads per worker.
DATABASE_POOL_SIZE = 0
# Unset: redis://127.0.0.1:6379/0, or in development the Redis of the running `make run`
# (mailer/dev/redis_state.py): development never guesses.
REDIS_URL: str | None = None
SMTP_URL = "smtp://127.0.0.1:25"
SMTP_TIMEOUT = 30.0
BASE_URL = "http://127.0.0.1:5000"
MAIL_FROM = "Weekly updates <newsletter@localhost>"
NETWORK_NAME = "The Free Expression Network"
CONTACT_LINE = "The Free Expression Network, 1 Example Street, London, United Kingdom"

SIGNUP_CHALLENGE = True  # self-hosted proof of work on the sign-up form (altcha)
SIGNUP_CHALLENGE_MAX_NUMBER = 100_000  # work: the solver tries up to this many hashes
SIGNUP_CHALLENGE_MAX_AGE = timedelta(minutes=20)

# Every accepted sign-up answers after at least this many seconds, whatever the address's
# state: new, pending, confirmed and suppressed addresses take the same time (no enumeration).
SIGNUP_MIN_DURATION = 0.05
# Under load the floor rises with the time sign-ups really take, up to this (floor.py).
SIGNUP_MAX_DURATION = 1.0

RATELIMIT_ENABLED = True
RATELIMIT_SIGNUP_IP = "10 per minute;60 per hour"
# Mails a stranger can make us send to one address: confirmation and "already subscribed"
# mails, from the form, a "send me a new link" page, the sweeper or a pending import. Kept in
# the database by keyed address hash (subscriptions/address_cap.py); moving windows.
RATELIMIT_SIGNUP_ADDRESS = "1 per day;3 per 30 days"
# One-time links ("download my data", "erase me") and new preferences links, per address.
RATELIMIT_LINK_ADDRESS = "3 per hour;10 per day"
RATELIMIT_TOKEN_PAGES = "60 per minute"  # per IP: confirm, unsubscribe, preferences pages

RATELIMIT_LOGIN = "5 per minute;30 per hour"  # editor login attempts per IP
# Test sends of a digest per editor (any address, in the network's name): counted in the
# database from the audit log, moving windows (mailer/admin/test_send_limit.py).
RATELIMIT_TEST_SEND = "10 per hour;30 per day"

# Editors' second factor (TOTP): "required" (every editor enrols at first login), "optional"
# (editors who enrolled are asked for a code) or "off". Unset: required in production,
# optional in development (mailer/accounts/policy.py).
ADMIN_2FA: str | None = None
# Server-side admin sessions (mailer/accounts/sessions.py): a session ends after this
# long without a request, and this long after the sign-in whatever happens.
ADMIN_SESSION_IDLE_MINUTES = 30
ADMIN_SESSION_MAX_HOURS = 12
# Export, erase, a confirmed import and editor management ask again for the password and
# the second factor unless the editor gave them this recently.
ADMIN_REAUTH_MINUTES = 5
# Failed sign-ins (password or second factor), counted per account (keyed hash of the
# address, known or not) and per client network: after 3 failures each attempt waits
# LOGIN_BACKOFF_BASE seconds, doubled at each further failure; LOGIN_LOCK_AFTER failures
# lock the account (LOGIN_NETWORK_LOCK_AFTER the network) for LOGIN_LOCK_MINUTES. Failures
# are forgotten after a day without any.
LOGIN_BACKOFF_BASE = 2.0
LOGIN_LOCK_AFTER = 10
LOGIN_NETWORK_LOCK_AFTER = 30
LOGIN_LOCK_MINUTES = 15

DIGEST_MAX_ARTICLES = 10  # "New digest" pre-selects at most this many articles
# An automatic digest is made only this long after its weekly slot (no stale sends
# after downtime).
SCHEDULE_GRACE = timedelta(hours=6)
# The scheduler drafts a list's weekly digest this many hours before its slot and mails the
# editors a review link ("send automatically": it goes out at the slot unless held; "wait
# for an editor": only once approved).
DIGEST_REVIEW_LEAD_HOURS = 24

CONFIRM_MAX_AGE = timedelta(days=7)
# Retention (audit M9, L11; the hourly mailer.apply_retention job): a sign-up never confirmed
# is deleted CONFIRM_MAX_AGE + RETENTION_PENDING_GRACE_DAYS after it was last asked for; a
# person unsubscribed from every list for RETENTION_UNSUBSCRIBED_DAYS is erased (only the
# keyed hash stays); bounce mail that could not be processed loses its raw text after
# RETENTION_FAILED_BOUNCE_DAYS.
RETENTION_PENDING_GRACE_DAYS = 7
RETENTION_UNSUBSCRIBED_DAYS = 30
RETENTION_FAILED_BOUNCE_DAYS = 7
# The audit log of admin actions and logins keeps each event this long (the same job).
AUDIT_RETENTION_DAYS = 365
# An owner's invitation link to a new editor works once and expires after this.
EDITOR_INVITE_MAX_AGE_HOURS = 48
# Failed sign-ins and locks shown to owners (login_event) are deleted after this.
RETENTION_LOGIN_EVENT_DAYS = 90
# The mailed links for "download my data" and "erase me" expire after this, and work once.
ONE_TIME_LINK_MAX_AGE = timedelta(hours=1)  # not read from the environment
CONSENT_VERSION = "2026-11-1"
# The languages readers choose from, {code: name in that language}. None: English (the source
# language) and every language with a compiled catalogue under translations/ (issue 12).
LANGUAGES: dict[str, str] | None = None
DEFAULT_LANGUAGE = "en"

# Public pages refuse bodies over this size (413); the sign-up form needs a few KB.
PUBLIC_MAX_CONTENT_LENGTH = 256 * 1024
MAX_CONTENT_LENGTH = 16 * 1024 * 1024
# Subscriber CSV imports (command line and admin upload) refuse files over this size.
SUBSCRIBER_IMPORT_MAX_BYTES = 5 * 1024 * 1024
# Who may put the sign-up form (?embed=1) in a frame: CSP frame-ancestors sources, e.g.
# "https://news.example.org". Unset: 'self' only (a guess from BASE_URL's parent domain
# would admit every site under a public suffix such as co.uk; see security.py).
EMBED_FRAME_ANCESTORS: str | None = None

# Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are
# trusted (ProxyFix). 0: those headers are ignored and the socket's peer is the client.
TRUSTED_PROXIES = 0

SEND_RATE = 0.0  # messages per second per SMTP server; 0 means unlimited
DELIVERY_BATCH_SIZE = 500  # deliveries per bulk task
# SMTP 4xx or connection errors defer a delivery (and hold its server, mailer/backoff.py) with
# exponential back-off from DELIVERY_RETRY_BASE seconds, up to an hour; the delivery fails
# only once DELIVERY_RETRY_BUDGET seconds have passed since it was first deferred.
DELIVERY_RETRY_BASE = 30.0
DELIVERY_RETRY_BUDGET = 24 * 3600.0
# PostgreSQL: wait for each sent message's record to reach the disk (see digests/record.py).
DELIVERY_SYNC_COMMIT = True
# Envelope sender of digests (VERP): <local>+<delivery>.<sig>@<domain>; default from MAIL_FROM.
BOUNCE_DOMAIN: str | None = None
BOUNCE_LOCAL_PART: str | None = None
# Bounce handling (issue 5): the receiver refuses larger messages with 552; soft bounces
# suppress an address after SOFT_BOUNCE_LIMIT of them within SOFT_BOUNCE_WINDOW_DAYS.
BOUNCE_MAX_BYTES = 10 * 1024 * 1024
SOFT_BOUNCE_LIMIT = 3
SOFT_BOUNCE_WINDOW_DAYS = 30
# Auto-pause (mailer/digests/autopause.py): a sending digest pauses itself when its hard
# bounces or complaints pass these percentages of the messages out, once at least
# AUTO_PAUSE_MIN_SENT are out; each list may set its own. A rate of 0 turns that check off.
AUTO_PAUSE_BOUNCE_RATE = 5.0
AUTO_PAUSE_COMPLAINT_RATE = 0.1
AUTO_PAUSE_MIN_SENT = 500
# A bounce mailbox polled every minute, e.g. imaps://user:password@host/INBOX?move_to=Done
BOUNCE_IMAP_URL: str | None = None
# Provider webhooks (/api/v1/webhooks/...). SES via SNS: only these topics are accepted, and
# the signing certificate must come over https from a host matching the pattern.
SES_SNS_TOPIC_ARNS: list[str] = []  # env: ARNs separated by whitespace or commas
# Regional hosts only (sns.us-east-1.amazonaws.com, sns.us-gov-west-1..., sns.cn-north-1...cn):
# a looser pattern also matched S3 virtual hosts such as sns.s3.amazonaws.com (audit L6).
SES_SNS_CERT_HOST_PATTERN = r"sns\.[a-z]{2}(-gov)?-[a-z]+-\d\.amazonaws\.com(\.cn)?"
# The signing certificate must name one of these (or the regional host it came from).
SES_SNS_CERT_SUBJECTS: list[str] = ["sns.amazonaws.com"]
SES_SNS_CERT_ALLOW_HTTP = False  # tests only (a loopback certificate server); not in the env
SES_SNS_TIMEOUT = 10.0  # seconds for fetching a certificate or confirming a subscription
MAILGUN_WEBHOOK_SIGNING_KEY: str | None = None

# Feed import (`mailer import-feed`, the admin, and the `FEEDS` polled every 15 minutes).
FEEDS: list[str] = []  # env: URLs separated by whitespace or commas
FEED_TIMEOUT = 20.0  # seconds for fetching one feed
FEED_MAX_BYTES = 10 * 1024 * 1024  # larger feeds are refused
FEED_MAX_ENTRIES = 1000  # feeds with more entries are refused, nothing imported
# Fetch feeds from loopback and private networks too (off: an editor cannot reach Redis etc.)
FEED_PRIVATE_ADDRESSES = False

DKIM_SELECTOR: str | None = None
DKIM_DOMAIN: str | None = None
DKIM_PRIVATE_KEY_PATH: str | None = None

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session cookie
# Flask-WTF's https check needs a Referer, which our no-referrer policy never sends; the
# same-origin check (mailer/same_origin.py) takes its place. The token stays required.
WTF_CSRF_SSL_STRICT = False

# Settings read from the environment, with how to parse them. A number kind carries its
# least value, checked at start whoever sets it: "int>=0" (0 or more), "float>0" (above 0).
# "nonempty": a string that is refused when set empty or blank (unset, the default stands).
ENV_SETTINGS: dict[str, str] = {
    "MAILER_ENV": "str",
    "SECRET_KEY": "str",
    "SECRET_KEY_FALLBACKS": "list",
    "ADDRESS_HASH_KEY": "str",
    "DATABASE_URL": "str",
    "DATABASE_POOL_SIZE": "int>=0",
    "REDIS_URL": "str",
    "SMTP_URL": "str",
    "SMTP_TIMEOUT": "float>0",
    "BASE_URL": "str",
    "MAIL_FROM": "str",
    "NETWORK_NAME": "str",
    "CONTACT_LINE": "str",
    "SIGNUP_CHALLENGE": "bool",
    "SIGNUP_CHALLENGE_MAX_NUMBER": "int>=1",
    "SIGNUP_MIN_DURATION": "float>=0",
    "SIGNUP_MAX_DURATION": "float>=0",
    "RATELIMIT_ENABLED": "bool",
    "RATELIMIT_SIGNUP_IP": "str",
    "RATELIMIT_SIGNUP_ADDRESS": "str",
    "RATELIMIT_LINK_ADDRESS": "str",
    "RATELIMIT_TOKEN_PAGES": "str",
    "RATELIMIT_LOGIN": "str",
    "RATELIMIT_TEST_SEND": "str",
    "ADMIN_2FA": "str",
    "ADMIN_SESSION_IDLE_MINUTES": "int>=1",
    "ADMIN_SESSION_MAX_HOURS": "int>=1",
    "ADMIN_REAUTH_MINUTES": "int>=1",
    "LOGIN_BACKOFF_BASE": "float>=0",
    "LOGIN_LOCK_AFTER": "int>=1",
    "LOGIN_NETWORK_LOCK_AFTER": "int>=1",
    "LOGIN_LOCK_MINUTES": "int>=1",
    "DIGEST_MAX_ARTICLES": "int>=1",
    "DIGEST_REVIEW_LEAD_HOURS": "int>=0",
    "CONSENT_VERSION": "nonempty",
    "RETENTION_PENDING_GRACE_DAYS": "int>=0",
    "RETENTION_UNSUBSCRIBED_DAYS": "int>=0",
    "RETENTION_FAILED_BOUNCE_DAYS": "int>=0",
    "AUDIT_RETENTION_DAYS": "int>=1",
    "EDITOR_INVITE_MAX_AGE_HOURS": "int>=1",
    "RETENTION_LOGIN_EVENT_DAYS": "int>=0",
    "SUBSCRIBER_IMPORT_MAX_BYTES": "int>=1",
    "EMBED_FRAME_ANCESTORS": "str",
    "TRUSTED_PROXIES": "int>=0",
    "SEND_RATE": "float>=0",
    "DELIVERY_BATCH_SIZE": "int>=1",
    "DELIVERY_RETRY_BASE": "float>0",
    "DELIVERY_RETRY_BUDGET": "float>=0",
    "DELIVERY_SYNC_COMMIT": "bool",
    "BOUNCE_DOMAIN": "str",
    "BOUNCE_LOCAL_PART": "str",
    "BOUNCE_MAX_BYTES": "int>=1",
    "SOFT_BOUNCE_LIMIT": "int>=1",
    "SOFT_BOUNCE_WINDOW_DAYS": "int>=1",
    "AUTO_PAUSE_BOUNCE_RATE": "float>=0",
    "AUTO_PAUSE_COMPLAINT_RATE": "float>=0",
    "AUTO_PAUSE_MIN_SENT": "int>=1",
    "BOUNCE_IMAP_URL": "str",
    "SES_SNS_TOPIC_ARNS": "list",
    "SES_SNS_CERT_HOST_PATTERN": "str",
    "SES_SNS_CERT_SUBJECTS": "list",
    "SES_SNS_TIMEOUT": "float>0",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "str",
    "FEEDS": "list",
    "FEED_TIMEOUT": "float>0",
    "FEED_MAX_BYTES": "int>=1",
    "FEED_MAX_ENTRIES": "int>=1",
    "FEED_PRIVATE_ADDRESSES": "bool",
    "DKIM_SELECTOR": "str",
    "DKIM_DOMAIN": "str",
    "DKIM_PRIVATE_KEY_PATH": "str",
}
