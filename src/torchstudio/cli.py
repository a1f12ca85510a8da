"""The `torchstudio` command: start the app, create projects, train headless, list modules."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from torchstudio import __version__

if TYPE_CHECKING:
    from torchstudio.app.store.project import Project

COMMANDS = ("new", "run", "interpret", "lr-find", "sweep", "export-code", "modules")


def app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchstudio",
        description="TorchStudio: a studio for PyTorch in the browser. Starts the app on a "
        "project and prints the URL to open, with its access token.",
        epilog="other commands (see `torchstudio COMMAND --help`):\n"
        "  new PATH (--demo | --dataset FILE.py --model FILE.py ...)   create a project file\n"
        "  run PROJECT [--model NAME] [--set KEY=VALUE] [--config FILE.toml] [--resume]\n"
        "      [--run-name NAME] [--epochs N] [--device D] [--timeout S]\n"
        "                                                            train headless, JSON lines\n"
        "  interpret PROJECT --model NAME [--run N]                  a run's interpretation, JSON\n"
        "  lr-find PROJECT --model NAME [--steps N]                  learning-rate range test, JSON\n"
        "  sweep PROJECT --model NAME --trials N [--parallel P] [--space FILE.toml] [--epochs E]\n"
        "      [--new]                                               Optuna sweep, JSON lines\n"
        "  export-code PROJECT --model NAME --out DIR                a model as a Python project\n"
        "  modules [--kind KIND]                                     list the modules as JSON",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "project",
        nargs="?",
        help="project file (.tsproj) to open; default: the last one opened, else the demo "
        "project in ~/.torchstudio",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: only this machine can connect)",
    )
    parser.add_argument("--port", type=int, help="port to listen on (default: a free port)")
    parser.add_argument(
        "--password",
        action="store_true",
        help="log in with a password instead of the token in the URL: typed at start (or "
        "taken from TORCHSTUDIO_PASSWORD) and kept only as a bcrypt hash",
    )
    parser.add_argument(
        "--no-token",
        action="store_true",
        help="no access token (only allowed on 127.0.0.1: any local user can then connect)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (repeatable; default: localhost, "
        "127.0.0.1, ::1 and the --host address); guards against DNS rebinding",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="do not open a browser; just print the URL"
    )
    parser.add_argument("--version", action="version", version=f"torchstudio {__version__}")
    return parser


def new_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchstudio new",
        description="Create a project file: the demo (Digits + MNISTClassifier), or one "
        "started from your own code files.",
    )
    parser.add_argument("path", help="the project file to create (.tsproj)")
    parser.add_argument("--demo", action="store_true", help="write the demo project")
    parser.add_argument("--dataset", help="a Python file defining `train` (and maybe `valid`)")
    parser.add_argument(
        "--model", action="append", default=[], help="a Python file defining `model` (repeatable)"
    )
    return parser


def run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchstudio run",
        description="Load the project's dataset, build and train its model(s) without the UI; "
        "prints one JSON line per epoch, then a summary (fields: docs/run.md). Results are "
        "saved in the project as a new run. Settings given here apply to this run only.",
        epilog="settings: "
        + ", ".join(known_settings())
        + "\nexit codes: 0 done, 1 an error, 2 a bad command line (no such model, a setting "
        "refused), 124 --timeout reached, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("project", help="the project file (.tsproj)")
    parser.add_argument("--model", action="append", help="train only this model (repeatable)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a training setting for this run, e.g. batch_size=32, learning_rate=0.01, "
        "precision=bf16, optimizer.weight_decay=0.1 (repeatable; after --config)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE.toml",
        help="training settings in a TOML file: the same keys, [optimizer]/[scheduler] "
        "tables for their parameters",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue each model's last run from its checkpoint, with its own settings "
        "(only epochs, early_stop, device, devices, dist_port, server, compile, "
        "checkpoint_every can change)",
    )
    parser.add_argument("--run-name", help="a name for the run (kept with it in the project)")
    parser.add_argument(
        "--log",
        action="append",
        default=[],
        metavar="KIND:WHERE",
        help="mirror the run to tensorboard:FOLDER or mlflow:URI (a folder for an mlruns "
        "store, or a tracking URI); repeatable; relative folders are the project's. "
        "Optional extras: pip install 'torchstudio[tensorboard]' / 'torchstudio[mlflow]'",
    )
    parser.add_argument("--epochs", type=int, help="number of epochs: --set epochs=N")
    parser.add_argument("--device", help="device to train on, e.g. cpu or cuda:0: --set device=D")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop (workers too) and exit with code 124 when the run takes longer",
    )
    return parser


def export_code_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchstudio export-code",
        description="Write a model and the dataset as a plain Python project: dataset.py, "
        "model.py, train.py (the studio's loop, settings and parts; --epochs/--device), "
        "requirements.txt and a README. The model must have a loss (built, or chosen).",
    )
    parser.add_argument("project", help="the project file (.tsproj)")
    parser.add_argument("--model", required=True, help="the model to export")
    parser.add_argument("--out", required=True, help="the folder to write (made if needed)")
    return parser


def interpret_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchstudio interpret",
        description="Interpret a run of a model on the whole validation split with its best "
        "weights and print it as JSON: confusion matrix, per-class precision/recall/F1, the "
        "top losses and most confused pairs (classification); errors and worst samples "
        "(regression); per-label or per-class figures (multi-label, segmentation). The "
        "interpretation is kept with the run, as the app keeps it.",
    )
    parser.add_argument("project", help="the project file (.tsproj)")
    parser.add_argument("--model", required=True, help="the model to interpret")
    parser.add_argument("--run", type=int, help="the run (default: the newest with weights)")
    return parser


def lr_find_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchstudio lr-find",
        description="Run the learning-rate range test on a copy of the model's initial "
        "weights (the project is unchanged) and print the curve and the suggested learning "
        "rate as JSON.",
    )
    parser.add_argument("project", help="the project file (.tsproj)")
    parser.add_argument("--model", required=True, help="the model to test")
    parser.add_argument("--steps", type=int, help="batches in the test (default 100)")
    return parser


def sweep_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchstudio sweep",
        description="Search a model's training settings and its form's parameters with "
        "Optuna (TPE sampler, median "
        "pruner fed with each epoch's validation metric): N trials, P at a time, each a new "
        "run of the model. Prints one JSON line per trial and a summary line (best trial, "
        "importances). The study is kept in PROJECT's folder (NAME.sweeps.db): run the same "
        "command again to go on after a stop.",
    )
    parser.add_argument("project", help="the project file (.tsproj)")
    parser.add_argument("--model", required=True, help="the model whose settings to search")
    parser.add_argument("--trials", type=int, required=True, help="trials in all (N)")
    parser.add_argument("--parallel", type=int, default=1, help="trials at a time (P)")
    parser.add_argument(
        "--space",
        help='a TOML file: one table per setting (a training setting, "optimizer.NAME", or '
        '"model.NAME" for a parameter of the model\'s form), with low/high(/log) or choices '
        "(default: learning_rate log-uniform 1e-4..0.1 and batch_size 16/32/64/128)",
    )
    parser.add_argument("--epochs", type=int, help="epochs of every trial")
    parser.add_argument("--new", action="store_true", help="forget the model's earlier study")
    return parser


def modules_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchstudio modules",
        description="List the modules found (built-in, project and user folders, torch, "
        "torchvision, torchmetrics) as JSON.",
    )
    parser.add_argument("--project-modules", help="a project's modules/ folder")
    parser.add_argument("--user-modules", help="the per-user modules folder")
    parser.add_argument("--kind", help="only this kind (datasets, models, loss, ...)")
    return parser


def with_suffix(path: str) -> Path:
    target = Path(path).expanduser()
    return target if target.suffix == ".tsproj" else target.with_name(target.name + ".tsproj")


def cmd_new(args: argparse.Namespace) -> int:
    from torchstudio.app.demo import write_demo, write_from_files
    from torchstudio.app.store.project import ProjectError

    target = with_suffix(args.path)
    if target.exists():
        print(f"torchstudio: {target} already exists", file=sys.stderr)
        return 2
    if args.demo == bool(args.dataset or args.model):
        print("torchstudio new: give either --demo, or --dataset and/or --model", file=sys.stderr)
        return 2
    try:
        if args.demo:
            project = write_demo(target)
        else:
            project = write_from_files(target, args.dataset, args.model)
    except (ProjectError, OSError) as exc:
        print(f"torchstudio: {exc}", file=sys.stderr)
        return 2
    trust_here(project)
    print(project.path)
    project.close()
    return 0


def trust_here(project: Project) -> None:
    """A project made on this machine is trusted: the app runs its code without asking."""
    from torchstudio.app.store import recent
    from torchstudio.app.store.trust import TrustStore

    TrustStore(recent.home()).trust(project)


def cmd_modules(args: argparse.Namespace) -> int:
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


def known_settings() -> list[str]:
    from torchstudio.app.models.overrides import known_keys

    return known_keys()


def cmd_run(args: argparse.Namespace) -> int:
    from torchstudio.app.headless import RunOptions, run_project
    from torchstudio.app.models.overrides import OverrideError, parse_set, read_config

    shorthands = {"epochs": args.epochs, "device": args.device}  # --set KEY=VALUE, last
    try:
        given = read_config(Path(args.config)) if args.config else []
        given += [parse_set(text) for text in args.set]
        if args.log:  # one setting: the list of targets
            origin = " ".join(f"--log {target}" for target in args.log)
            given.append(parse_set(f"log={','.join(args.log)}", origin))
        given += [
            parse_set(f"{key}={value}", f"--{key} {value}")
            for key, value in shorthands.items()
            if value is not None
        ]
    except OverrideError as exc:
        print(f"torchstudio run: {exc}", file=sys.stderr)
        return 2
    options = RunOptions(args.model, given, args.resume, args.run_name, args.timeout)
    return run_project(Path(args.project), options)


def cmd_interpret(args: argparse.Namespace) -> int:
    from torchstudio.app.probing_headless import interpret_project

    return interpret_project(Path(args.project), args.model, args.run)


def cmd_lr_find(args: argparse.Namespace) -> int:
    from torchstudio.app.probing_headless import lr_find_project

    if args.steps is not None and args.steps < 5:
        print("torchstudio lr-find: --steps must be at least 5", file=sys.stderr)
        return 2
    return lr_find_project(Path(args.project), args.model, args.steps)


def cmd_sweep(args: argparse.Namespace) -> int:
    from torchstudio.app.models.overrides import OverrideError, parse_set
    from torchstudio.app.probing_headless import sweep_project
    from torchstudio.app.sweeps.space import DEFAULT_SPACE, SpaceError, read_space

    if args.trials < 1 or args.parallel < 1:
        print("torchstudio sweep: --trials and --parallel must be at least 1", file=sys.stderr)
        return 2
    try:
        space = read_space(Path(args.space)) if args.space else DEFAULT_SPACE
        given = (
            [parse_set(f"epochs={args.epochs}", f"--epochs {args.epochs}")] if args.epochs else []
        )
    except (SpaceError, OverrideError) as exc:
        print(f"torchstudio sweep: {exc}", file=sys.stderr)
        return 2
    return sweep_project(
        Path(args.project), args.model, args.trials, args.parallel, space, given, args.new
    )


def cmd_export_code(args: argparse.Namespace) -> int:
    from torchstudio.app.models.codeexport import ExportError, export_model
    from torchstudio.app.store.project import ProjectError
    from torchstudio.app.studio import open_checked

    try:
        project = open_checked(Path(args.project).expanduser())
    except ProjectError as exc:
        print(f"torchstudio export-code: {exc}", file=sys.stderr)
        return 2
    try:
        written = export_model(project, args.model, Path(args.out).expanduser())
    except KeyError as exc:
        print(f"torchstudio export-code: {exc.args[0]}", file=sys.stderr)
        return 2
    except (ExportError, OSError) as exc:
        print(f"torchstudio export-code: {exc}", file=sys.stderr)
        return 1
    finally:
        project.close()
    for path in written:
        print(path)
    return 0


def default_project() -> Path:
    """The last project opened, else the demo project in the user's folder (made if needed)."""
    from torchstudio.app.demo import write_demo
    from torchstudio.app.store import recent

    for entry in recent.recent_projects():
        if Path(entry).is_file():
            return Path(entry)
    demo = recent.home() / "demo.tsproj"
    if not demo.exists():
        demo.parent.mkdir(parents=True, exist_ok=True)
        project = write_demo(demo)
        trust_here(project)
        project.close()
    return demo


def cmd_app(args: argparse.Namespace) -> int:
    from torchstudio.app.store.project import ProjectError
    from torchstudio.app.studio import open_checked

    project = Path(args.project).expanduser() if args.project else default_project()
    try:
        open_checked(project).close()  # refuse a bad file now, with its reason, not in the UI
    except ProjectError as exc:
        print(f"torchstudio: {exc}", file=sys.stderr)
        return 2
    from torchstudio.app.web.login import PasswordError, password_from_user
    from torchstudio.app.web.server import ExposureError, check_exposure, serve

    try:
        check_exposure(args.host, args.password or not args.no_token)
        password_hash = password_from_user() if args.password else None
    except (ExposureError, PasswordError) as exc:
        print(f"torchstudio: {exc}", file=sys.stderr)
        return 2
    try:
        serve(
            project.absolute(),  # resolved (and checked) by the opening above
            args.host,
            args.port,
            open_browser=not args.no_browser,
            token_auth=not args.no_token,
            password_hash=password_hash,
            allow_hosts=tuple(args.allow_host),
        )
    except ExposureError as exc:
        print(f"torchstudio: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in COMMANDS:
        command, rest = arguments[0], arguments[1:]
        parser = {
            "new": new_parser,
            "run": run_parser,
            "interpret": interpret_parser,
            "lr-find": lr_find_parser,
            "sweep": sweep_parser,
            "export-code": export_code_parser,
            "modules": modules_parser,
        }[command]()
        handler = {
            "new": cmd_new,
            "run": cmd_run,
            "interpret": cmd_interpret,
            "lr-find": cmd_lr_find,
            "sweep": cmd_sweep,
            "export-code": cmd_export_code,
            "modules": cmd_modules,
        }[command]
        return handler(parser.parse_args(rest))
    return cmd_app(app_parser().parse_args(arguments))


if __name__ == "__main__":
    raise SystemExit(main())
