"""Mailing lists: create, edit and delete them (service.py), from the admin and the CLI."""
