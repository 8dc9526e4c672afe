"""The operator accounts' admin: API tokens (tokens.py) and the user page's role choice
(users.py)."""

from accounts.admin import tokens, users  # noqa: F401 - each registers its ModelAdmin
