"""Stage 1, blur kernels: Gaussians and the paper's Eq. 5 gallery, and the spectral estimate.

May import the core numerics (`issr_jax.color`, `issr_jax.resize`); never app/, batch/, io/.
"""
