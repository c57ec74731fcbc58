"""Experiment configs; each file's docstring holds the command that runs it."""
