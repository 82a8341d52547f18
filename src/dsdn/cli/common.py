"""What every ``dsdn`` command shares: the root Typer app, logging set-up and the one error boundary."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Annotated, Optional

import typer

from ..errors import DSDNInputError, DSDNRunError
from ..fields import doc_of
from ..generate import GenerateConfig

app = typer.Typer(
    help="Text-to-video generation with the Dual-Stream Diffusion Net (DSDN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def setup_logging(debug: bool, quiet: bool = False) -> None:
    """Our warnings at WARNING; the libraries' import-time chatter only with --debug; with --quiet, not even
    their progress bars (e.g. transformers' "Writing model shards")."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Read by the libraries when a command first imports them (nothing heavy is imported here)...
    if not debug:
        os.environ["TRANSFORMERS_VERBOSITY"] = os.environ["DIFFUSERS_VERBOSITY"] = "error"
    if quiet:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    # ...and set directly when they are already imported (a second command in the same process).
    for name in ("diffusers.utils.logging", "transformers.utils.logging"):
        module = sys.modules.get(name)
        if module is not None:
            if not debug:
                module.set_verbosity_error()
            (module.disable_progress_bar if quiet else module.enable_progress_bar)()


EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


def explain(error: BaseException) -> tuple[int, str]:
    """The exit code and the one line a user sees for an exception that ends a command."""
    torch = sys.modules.get("torch")  # not imported: the error cannot be torch's (and it is not loaded for this)
    out_of_memory = (MemoryError,) if torch is None else (MemoryError, torch.OutOfMemoryError)
    if isinstance(error, DSDNInputError):
        return EXIT_BAD_INPUT, str(error)
    if isinstance(error, DSDNRunError):
        return EXIT_FAILED, str(error)
    if isinstance(error, KeyboardInterrupt):
        return (
            EXIT_INTERRUPTED,
            "interrupted; finished files are intact and unfinished ones were not renamed into place.",
        )
    if isinstance(error, out_of_memory):
        return EXIT_FAILED, ("out of memory: ask for fewer frames, a smaller size or batch, or another device "
                             f"({type(error).__name__}: {error}).")  # fmt: skip
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return EXIT_FAILED, f"{error.strerror or error}{where}. Fix it and rerun (--debug shows where it happened)."
    return EXIT_FAILED, (f"unexpected {type(error).__name__}: {error}. This is a bug in dsdn: rerun with --debug "
                         "for the traceback and report it.")  # fmt: skip


def boundary(command: Callable) -> Callable:
    """The one error boundary of every command: logging set up from --debug, then any exception that
    ends the command becomes one line on stderr and an exit code (2 bad input, 1 failed, 130
    interrupted); --debug re-raises it with its traceback. Click's own usage errors pass through."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        debug = bool(kwargs.get("debug", False))
        setup_logging(debug, quiet=bool(kwargs.get("quiet", False)))
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:  # the reader went away (`dsdn info | head`): stop quietly, as shell tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(code=EXIT_FAILED) from None
        except BaseException as e:
            # The parser's own exits and usage errors (Click's, or the copy of Click that Typer vendors) pass.
            if debug or isinstance(e, SystemExit) or type(e).__module__.split(".")[0] in ("click", "typer"):
                raise
            code, message = explain(e)
            typer.echo("error: " + " ".join(message.split()), err=True)
            raise typer.Exit(code=code) from None

    return run


# `dsdn eval sweep`'s sampler, with the help of `dsdn generate`'s.
Scheduler = Annotated[str, typer.Option(help=doc_of(GenerateConfig, "scheduler"))]


def config_command(config_cls: type) -> Callable:
    """Decorator: a command whose options are ``config_cls``'s option fields (:func:`dsdn.fields.option`: their
    defaults, help and flags), then the decorated function's own options (declared as usual, after its first two
    parameters), then --quiet and --debug. The function is called with the validated config, ``quiet`` and its own
    options; a bad value fails in the config's own check, in one line. Put :func:`boundary` above it."""
    import dataclasses
    import inspect
    import typing

    from ..fields import cli_fields

    hints = typing.get_type_hints(config_cls)
    keyword = inspect.Parameter.KEYWORD_ONLY

    def wrap(body: Callable) -> Callable:
        params, to_field, lists, repeated = [], {}, {}, set()
        for f, spec in cli_fields(config_cls):
            name = spec["name"] or f.name
            to_field[name] = f.name
            annotation = _without_none(hints[f.name])
            default = f.default if f.default is not dataclasses.MISSING else ...
            if spec["comma_list"]:  # tuple[X, ...]: one comma-separated text of X
                lists[name] = typing.get_args(annotation)[0]
                annotation = Optional[str]
                default = ",".join(map(str, default)) if isinstance(default, tuple) else default
            elif spec["multiple"]:
                repeated.add(name)
                annotation, default = Optional[list[str]], None
            elif annotation is not hints[f.name]:  # `X | None`, as Typer reads it
                annotation = Optional[annotation]
            maker = typer.Argument if spec["argument"] else typer.Option
            info = maker(default, *spec["flags"], help=spec["doc"])
            params.append(inspect.Parameter(name, keyword, default=info, annotation=annotation))
        body_hints = typing.get_type_hints(body)
        own = [p.replace(kind=keyword, annotation=body_hints.get(p.name, p.annotation))
               for p in list(inspect.signature(body).parameters.values())[2:]]  # fmt: skip
        params += [
            *own,
            inspect.Parameter("quiet", keyword, annotation=bool,
                              default=typer.Option(False, "--quiet", "-q", help="No progress bars.")),
            inspect.Parameter("debug", keyword, annotation=bool,
                              default=typer.Option(False, help="Show full tracebacks on errors.")),
        ]  # fmt: skip

        @functools.wraps(body)
        def command(**options):
            quiet = options.pop("quiet")
            options.pop("debug")
            extra = {p.name: options.pop(p.name) for p in own}
            values = {}
            for name, value in options.items():
                if name in lists and value is not None:
                    value = _split_list(name, value, lists[name])
                elif name in repeated:
                    value = tuple(value or ())
                values[to_field[name]] = value
            return body(config_cls(**values), quiet, **extra)

        del command.__wrapped__  # Typer reads the signature below, not the body's
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap


def _without_none(annotation):
    """``X`` for ``X | None`` (or ``Optional[X]``); any other annotation as it is."""
    import typing

    args = typing.get_args(annotation)
    if type(None) in args and len(args) == 2:
        return next(a for a in args if a is not type(None))
    return annotation


def _split_list(name: str, text: str, kind: type) -> tuple:
    """The values of a comma-separated option, each read as ``kind``; a one-line error for one that is not."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        return tuple(kind(part) for part in parts)
    except ValueError:
        what = {int: "integers", float: "numbers"}.get(kind, f"{kind.__name__} values")
        raise DSDNInputError(f"--{name.replace('_', '-')}={text!r} is invalid: give comma-separated {what}.") from None
