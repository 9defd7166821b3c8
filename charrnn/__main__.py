"""Entry point for `charrnn` and `python -m charrnn`.

MXNet is an optional extra (CPU or CUDA build), so its absence must produce advice, not a
traceback: the CLI is imported only once MXNet is known to load.
"""
import sys


def _mxnet_problem() -> str:
    try:
        import mxnet  # noqa: F401
    except ImportError:
        return ("MXNet is not installed: run `pip install 'charrnn[cpu]'` "
                "(or 'charrnn[cu112]' on an NVIDIA GPU machine), or `make install`.")
    except OSError as error:  # the CUDA build without the CUDA 11 runtime libraries
        return (f"MXNet is installed but cannot load ({error}). The cu112 build needs the CUDA "
                "11.2 runtime, cuBLAS 11 and cuDNN 8 libraries (see README, 'GPU'); or install "
                "the CPU build: `pip install 'charrnn[cpu]'`.")
    return ""


def main() -> None:
    problem = _mxnet_problem()
    if problem:
        sys.exit(f"Error: {problem}")
    from charrnn.cli import cli

    cli(prog_name="charrnn")


if __name__ == "__main__":
    main()
