"""Errors a user can act on. The CLI prints them as one `error:` line, the app as an error box."""
from __future__ import annotations


class RecTuneError(ValueError):
    """A problem the user can fix; its message says where and what to do."""


class DataError(RecTuneError):
    """An input file that cannot be used as given."""


class JobError(RecTuneError):
    """A training job that cannot start (one already runs, no data yet...)."""
