"""Errors caused by the user's input: reported as one clear message, no traceback."""


class UserError(Exception):
    """Bad config, data or labels; the message names the key or file and what to do."""
