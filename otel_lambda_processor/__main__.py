"""Command line: ``python -m otel_lambda_processor demo``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="otel-lambda-processor", description="OpenTelemetry span processing for AWS Lambda"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the local demo and print where the time goes")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import main as demo

        return demo()
    return 2  # pragma: no cover - argparse rejects unknown commands first


if __name__ == "__main__":
    sys.exit(main())
