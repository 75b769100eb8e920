"""Articles: sanitized storage (service) and RSS/Atom import (feeds)."""
