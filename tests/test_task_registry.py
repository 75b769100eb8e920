"""Every task is registered by the Celery app itself, under the name queued messages carry."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

NAMES = {
    "mailer.apply_retention",
    "mailer.poll_bounce_mailbox",
    "mailer.poll_feeds",
    "mailer.process_bounces",
    "mailer.reap_deliveries",
    "mailer.run_subscriber_import",
    "mailer.send_already_subscribed",
    "mailer.send_confirmation",
    "mailer.send_digest_batch",
    "mailer.send_editor_invite",
    "mailer.send_editor_notice",
    "mailer.send_link_mail",
    "mailer.send_review_mail",
    "mailer.send_pause_notice",
    "mailer.send_scheduled_digests",
    "mailer.send_test_digest",
    "mailer.start_digest",
    "mailer.sweep_confirmations",
    "mailer.sweep_subscriber_imports",
}

# A bare Flask app with only the Celery app bound: no blueprint is imported, as in a worker
# started before any page module; the worker's loader imports the app's `include`.
SCRIPT = """
import json, sys
from flask import Flask
from mailer.extensions import celery_init_app
flask_app = Flask("probe")
flask_app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
celery = celery_init_app(flask_app)
before = sorted(n for n in celery.tasks if n.startswith("mailer."))
celery.loader.import_default_modules()
print(json.dumps({
    "before": before,
    "after": sorted(n for n in celery.tasks if n.startswith("mailer.")),
    "modules": sorted({t.__module__ for n, t in celery.tasks.items() if n.startswith("mailer.")}),
    "blueprints": sorted(m for m in sys.modules if m.endswith(".views") and m.startswith("mailer")),
    "beat": sorted(e["task"] for e in celery.conf.beat_schedule.values()),
}))
"""


def test_the_celery_app_registers_every_task_without_the_blueprints() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout)
    assert found["before"] == []  # nothing registered by accident of an import
    assert set(found["after"]) == NAMES
    assert found["blueprints"] == []
    assert {m.rsplit(".", 1)[0] for m in found["modules"]} == {"mailer.tasks"}
    assert set(found["beat"]) <= NAMES  # the beat schedule names tasks that exist
