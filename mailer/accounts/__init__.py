"""Editor accounts beyond logging in: password policy, invitations, roles, disabling."""
