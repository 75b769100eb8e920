"""Fallback SMTP sink (aiosmtpd) for the delivery benchmark when smtp-sink is missing.

Run: python -m bench.aiosink PORT [RECIPIENTS_FILE]. Prints "mesg=<count>\\r" after every
accepted message, like `smtp-sink -c`, and appends the envelope recipients to the file.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, rcpt_path: str | None) -> None:
        self.count = 0
        self.out = open(rcpt_path, "a") if rcpt_path else None  # noqa: SIM115

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        if self.out:
            self.out.write("\n".join(envelope.rcpt_tos) + "\n")
            self.out.flush()
        sys.stdout.write(f"mesg={self.count}\r")
        sys.stdout.flush()
        return "250 OK"


def main() -> None:
    port = int(sys.argv[1])
    handler = Handler(sys.argv[2] if len(sys.argv) > 2 else None)
    controller = Controller(handler, hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
