"""Development only: `mailer dev` (everything on one machine) and the /dev/outbox pages."""
