"""Stage 1, noise: the level of white noise in an LR image, from the image alone or from a
JPEG file's quantisation tables.

May import the core numerics (`issr_jax.color`); never app/, batch/, io/.
"""
