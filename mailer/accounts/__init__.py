"""Editors' accounts beyond the password: the second factor (totp), the sign-in throttle
(throttle), server-side sessions and re-authentication (sessions), and the policy settings
(policy). The admin's sign-in and account pages (mailer/admin/signin.py, account.py) use them.
"""
