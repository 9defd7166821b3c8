"""Entry point for `charrnn` and `python -m charrnn`.

MXNet is an optional extra (CPU or CUDA build), so its absence, or a CUDA build that cannot
load, must produce advice, not a traceback: the CLI is imported only once MXNet is known to
load. `charrnn doctor` runs either way.
"""
import sys

from charrnn.machine import cuda


def _mxnet_problem() -> str:
    try:
        import mxnet  # noqa: F401
    except ImportError:
        return ("MXNet is not installed: run `pip install 'charrnn[cpu]'` "
                "(or 'charrnn[cu112]' on an NVIDIA GPU machine), or `make install`.")
    except OSError as error:  # the CUDA build without its libraries or the driver
        return cuda.load_problem(error)
    return ""


def main() -> None:
    problem = _mxnet_problem()
    if problem and sys.argv[1:2] == ["doctor"]:
        from charrnn.cli.doctor import doctor

        doctor(args=sys.argv[2:], prog_name="charrnn doctor")
    if problem:
        sys.exit(f"Error: {problem}")
    from charrnn.cli.commands import cli

    cli(prog_name="charrnn")


if __name__ == "__main__":
    main()
