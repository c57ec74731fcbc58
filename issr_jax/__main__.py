"""`python -m issr_jax`: the same command line as `issr-jax`."""

from issr_jax.app.cli import run

run()
