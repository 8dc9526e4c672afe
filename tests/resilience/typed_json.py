"""A parsed JSON value spelled out with its types, for tests that hold two parsers or two
encoders to each other: equal values of different types (1 and 1.0, 0.0 and -0.0) or
key orders compare unequal here."""


def typed(value):
    """`value` with every type spelled out and every key's order kept."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)
