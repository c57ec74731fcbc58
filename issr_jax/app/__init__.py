"""What a person runs: the folder runner, the command line, the demo, the compile cache.

May import everything in the library; nothing in the library imports it.
"""
