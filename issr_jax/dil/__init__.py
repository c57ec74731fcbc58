"""Stage 2 by Deep Identity Learning: the L-CNN, its identity loss and its fit.

The only place flax and optax are imported (lazily: `lcnn` on the first fit); may import the core.
"""
