"""The stages over many images: the device mesh, bucket canvases, tiles and chunks.

May import the core (`issr_jax.pipeline` and its stages); never app/ or io/.
"""
