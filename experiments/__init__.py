"""Experiments on top of `issr_jax`: the evaluation harness and its configs (not part of the library)."""
