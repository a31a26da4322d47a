"""Checks on a command line before anything runs: the overrides composed and validated, the choices checked
against each other and against what the data and the task say (metrics, directions, constructor keys), so that a
mistake costs one line and exit code 2 and leaves outputs/ as it was."""
