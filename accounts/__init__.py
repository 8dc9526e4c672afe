"""Operator accounts: hashed API tokens, login throttling and its audit, client addresses."""
