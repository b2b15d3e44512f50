"""Errors that mean "the user must fix something", as opposed to bugs."""


class UserError(Exception):
    """A mistake in the user's input (config, data, arguments); shown without a traceback."""


class ConfigError(UserError):
    """The configuration is invalid; the message names the key."""


class DataError(UserError):
    """The data set is missing, truncated or corrupt; the message names the file."""
