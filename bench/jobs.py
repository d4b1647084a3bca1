"""The function qcompat's path runs; a worker imports it by its dotted path."""


def noop():
    """Does nothing, so that the benchmark measures only the task machinery."""
