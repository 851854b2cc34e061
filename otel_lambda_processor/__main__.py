"""Command line: ``python -m otel_lambda_processor demo``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="otel-lambda-processor", description="OpenTelemetry span processing for AWS Lambda"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="run the local demo and print where the time goes"
    )
    demo_parser.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw one invocation per setup (PNG or SVG; needs [plot])",
    )
    args = parser.parse_args(argv)
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
