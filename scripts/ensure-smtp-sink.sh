#!/bin/sh
# The delivery benchmark (`make bench`) sends into Postfix's smtp-sink on loopback.
# Install Debian's postfix (which ships /usr/sbin/smtp-sink) when it is missing, without
# configuring or starting a Postfix daemon: the benchmark runs smtp-sink by itself.
set -eu
if [ -n "${SMTP_SINK:-}" ] && [ -x "$SMTP_SINK" ]; then exit 0; fi
for candidate in /usr/sbin/smtp-sink /usr/bin/smtp-sink; do
  [ -x "$candidate" ] && exit 0
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Postfix's smtp-sink for the delivery benchmark (apt-get install postfix)..."
  # "No configuration": no main.cf, so the package neither needs nor starts a mail server.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >/dev/null
  [ -x /usr/sbin/smtp-sink ] && exit 0
fi
echo "The delivery benchmark wants Postfix's smtp-sink (Debian: apt-get install postfix);" >&2
echo "without it, it falls back to an aiosmtpd sink and says its figure is limited by the sink." >&2
exit 1
