"""`python -m issr_jax`: the same command line as `issr-jax`."""

from issr_jax.cli import run

run()
