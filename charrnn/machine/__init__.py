"""What charrnn runs on: the Python and NumPy it finds (compat), MXNet's CUDA build and its
libraries (cuda), cores and threads (threads, core_share), devices (devices) and the workers
of a job (distributed), signals that stop a run (stopping), files written whole (atomic), and a
terminal or a notebook (notebook).

May import: charrnn.errors. Nothing here knows about text, models or runs.
"""
__all__ = ["atomic", "compat", "core_share", "cuda", "devices", "distributed", "notebook",
           "stopping", "threads"]
