"""Stage 2 designs without learning: the closed-form LMMSE inverse, and the paper's baselines.

May import the core numerics (`issr_jax.resize`, `issr_jax.drk`); never app/, batch/, io/.
"""
