"""Command line: ``python -m otel_lambda_processor demo`` and ``... layer --output layer.zip``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="otel-lambda-processor", description="OpenTelemetry for AWS Lambda"
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__} (Python {sys.version_info[0]}.{sys.version_info[1]})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="run the local demo and print where the time goes"
    )
    demo_parser.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw one invocation per setup (.png, .svg or .pdf; needs the [plot] extra)",
    )
    layer_parser = commands.add_parser(
        "layer",
        help="build a Lambda layer zip (AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-lambda-wrapper)",
        description="Build a Lambda layer: python/ with this package and its dependencies for "
        "the Lambda platform, with bytecode, and the otel-lambda-wrapper script at its root.",
    )
    layer_parser.add_argument("--output", required=True, metavar="PATH.zip", help="the zip")
    layer_parser.add_argument(
        "--python-version",
        metavar="3.X",
        help="the function's Python (default: this interpreter's, "
        f"{sys.version_info[0]}.{sys.version_info[1]})",
    )
    layer_parser.add_argument(
        "--architecture", choices=("x86_64", "arm64"), default="x86_64", help="default x86_64"
    )
    layer_parser.add_argument(
        "--package",
        metavar="SOURCE",
        help="a source folder, a wheel or a requirement (default: this checkout when run from "
        "one, else this version from the package index)",
    )
    layer_parser.add_argument(
        "--python",
        metavar="PATH",
        help="the interpreter of the target version that compiles the bytecode "
        "(default: found on the PATH, pyenv or uv)",
    )
    layer_parser.add_argument(
        "--no-compile",
        action="store_true",
        help="no bytecode (not recommended: every cold start then compiles the layer)",
    )
    args = parser.parse_args(argv)
    if args.command == "layer":
        from .layer import LayerError, build_layer

        try:
            build_layer(
                args.output,
                python_version=args.python_version,
                architecture=args.architecture,
                package=args.package,
                interpreter=args.python,
                compile_bytecode_files=not args.no_compile,
            )
        except LayerError as error:
            print(f"otel-lambda-processor layer: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "demo":
        from .demo import main as demo

        try:
            return demo(plot=args.plot)
        except KeyboardInterrupt:  # every process was stopped on the way out
            print("demo interrupted; every process it started has been stopped", file=sys.stderr)
            return 130
    return 2  # pragma: no cover - argparse rejects unknown commands first


if __name__ == "__main__":
    sys.exit(main())
