"""charrnn: character-level language models with Apache MXNet Gluon."""

__version__ = "0.1.0"
