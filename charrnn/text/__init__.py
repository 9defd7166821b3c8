"""Text as a model reads it: a corpus, its character vocabulary and its split (corpus), and the
(steps, batch) columns and truncated-BPTT windows cut from it (batching).

May import: charrnn.errors, charrnn.config, charrnn.machine.
"""
__all__ = ["batching", "corpus"]
