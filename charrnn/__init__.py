"""charrnn: character-level language models with Apache MXNet Gluon.

Importing charrnn settles what MXNet reads only as it loads: the NumPy and distutils names
its Python code still uses (charrnn/compat.py), its thread count (every usable
core, unless the user chose one) and, for MXNet's CUDA build, the CUDA libraries that NVIDIA's
pip wheels provide. So import charrnn before mxnet.
"""
from charrnn import compat, cuda, threads

__version__ = "0.1.0"

compat.restore()
threads.configure()
cuda.preload()
