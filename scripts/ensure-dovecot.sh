#!/bin/sh
# The bounce-mailbox tests poll a real IMAP server: Debian's Dovecot, started by the tests
# themselves on loopback (tests/dovecot.py). Install it when it is missing; the package's own
# system service is not needed.
set -eu
if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Dovecot for the IMAP tests (apt-get install dovecot-imapd)..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
  exit 0
fi
echo "The IMAP tests need Dovecot (Debian: apt-get install dovecot-imapd); they are skipped" >&2
echo "without it." >&2
exit 0
