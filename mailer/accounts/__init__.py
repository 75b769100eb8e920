"""Editors' accounts beyond the password check: the second factor (totp), the sign-in
throttle (throttle), server-side sessions and re-authentication (sessions), the policy
settings (policy), and password policy, invitations, roles and disabling (passwords, service,
invites). The admin's pages (mailer/admin/signin.py, account.py, editors.py) use them.
"""
