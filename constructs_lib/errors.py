"""The one exception type the library raises for configuration it can foresee."""


class ConfigurationError(ValueError):
    """A prop, setting or input is invalid.

    The message names the thing (prop, setting or file), the value received and what is
    allowed, so the error can be read on its own without a traceback.
    """
