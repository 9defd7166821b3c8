"""`make bench`: speed, memory and quality figures for charrnn (and PyTorch, with --peer).

charrnn is imported first: it sets MXNet's thread count before MXNet loads, as for every
charrnn command.
"""
import charrnn  # noqa: F401
