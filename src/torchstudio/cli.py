"""The `torchstudio` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from torchstudio import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchstudio",
        description="TorchStudio: a studio for PyTorch. The browser application arrives with "
        "the application issue; today the command lists the modules the studio can use.",
    )
    parser.add_argument("--version", action="version", version=f"torchstudio {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    scan = commands.add_parser(
        "modules",
        help="list the modules found (built-in, project and user folders, torch, torchvision, "
        "torchmetrics) as JSON",
    )
    scan.add_argument("--project-modules", help="a project's modules/ folder")
    scan.add_argument("--user-modules", help="the per-user modules folder")
    scan.add_argument("--kind", help="only this kind (datasets, models, loss, ...)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "modules":
        from torchstudio.pythonparse import scan_all, scan_to_json

        scan = scan_to_json(scan_all(args.project_modules, args.user_modules))
        if args.kind:
            if args.kind not in scan:
                print(f"unknown kind {args.kind!r}; kinds: {', '.join(scan)}", file=sys.stderr)
                return 2
            scan = {args.kind: scan[args.kind]}
        json.dump(scan, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
