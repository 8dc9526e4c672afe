"""Campaign errors: the one an operator is shown, and the text a row keeps of a failure."""

# Bounds the error text kept on timer and outbox rows.
ERROR_MAX = 2000


class CampaignError(Exception):
    """A campaign operation that cannot be done as asked (shown to the operator)."""


def error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_MAX]
