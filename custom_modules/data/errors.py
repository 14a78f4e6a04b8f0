"""The error of bad input data, shared by the data modules."""


class DataError(ValueError):
    """Bad input data: the message names the file, the line or value, and the fix."""
