"""Imported by the fork server only (see :mod:`appliance.procs`): it dies with its parent."""

from .procs import die_with_parent

die_with_parent()
