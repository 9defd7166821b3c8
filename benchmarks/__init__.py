"""`make bench`: speed, memory and quality figures for charrnn (and PyTorch, with --peer)."""
