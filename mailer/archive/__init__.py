"""The public archive of sent digests ("view in your browser")."""
