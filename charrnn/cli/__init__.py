"""The `charrnn` command line: the commands (commands), the options made from config.py's
fields (options), `charrnn doctor` (doctor) and `charrnn launch` (launch). A client of the
Python API: it parses, calls charrnn.api or charrnn.trained, and prints.

May import: anything in charrnn; nothing in charrnn imports it but charrnn.__main__.
"""
__all__ = ["commands", "doctor", "launch", "options"]
