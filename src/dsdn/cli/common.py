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


# The sampling options `dsdn eval toy` shares with `dsdn generate`, with the help of GenerateConfig's fields.
def _sampling(name: str, kind: type, *flags: str):
    return Annotated[kind, typer.Option(*flags, help=doc_of(GenerateConfig, name))]


Guidance = _sampling("guidance", Optional[float])
MotionGuidance = _sampling("motion_guidance", Optional[float])
MotionCoherence = _sampling("motion_coherence", Optional[float])
Combiner = _sampling("combiner", Optional[str])
StreamSync = _sampling("stream_sync", Optional[float])
SharedNoise = _sampling("shared_noise", Optional[float])
CarryFrom = _sampling("carry_from", Optional[float])
EarlyCoherence = _sampling("early_coherence", Optional[float])
EarlyUntil = _sampling("early_until", Optional[float])
CrossFrameAttention = _sampling(
    "cross_frame_attention", Optional[bool], "--cross-frame-attention/--no-cross-frame-attention"
)
CacheInterval = _sampling("cache_interval", int)
CacheDepth = _sampling("cache_depth", int)
Scheduler = _sampling("scheduler", str)


def config_command(config_cls: type) -> Callable:
    """Decorator: a command whose options are ``config_cls``'s option fields (:func:`dsdn.fields.option`: their
    defaults, help and flags, in the dataclass's order), plus --quiet and --debug. The decorated function is
    called with the validated config and ``quiet``; a bad value fails in the config's own check, in one line.
    Put :func:`boundary` above it."""
    import dataclasses
    import inspect
    import typing

    from ..fields import cli_fields

    hints = typing.get_type_hints(config_cls)

    def wrap(body: Callable) -> Callable:
        params, to_field, lists, repeated = [], {}, set(), set()
        for f, spec in cli_fields(config_cls):
            name = spec["name"] or f.name
            to_field[name] = f.name
            annotation = hints[f.name]
            default = f.default if f.default is not dataclasses.MISSING else ...
            if spec["comma_list"]:
                lists.add(name)
                annotation = Optional[str]
                default = ",".join(default) if isinstance(default, tuple) else default
            elif spec["multiple"]:
                repeated.add(name)
                annotation, default = Optional[list[str]], None
            elif type(None) in typing.get_args(annotation):  # `X | None` as Typer reads it
                annotation = Optional[next(a for a in typing.get_args(annotation) if a is not type(None))]
            maker = typer.Argument if spec["argument"] else typer.Option
            info = maker(default, *spec["flags"], help=spec["doc"])
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation))
        params += [
            inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                              default=typer.Option(False, "--quiet", "-q", help="No progress bars.")),
            inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                              default=typer.Option(False, help="Show full tracebacks on errors.")),
        ]  # fmt: skip

        @functools.wraps(body)
        def command(**options):
            quiet = options.pop("quiet")
            options.pop("debug")
            values = {}
            for name, value in options.items():
                if name in lists and value is not None:
                    value = tuple(part.strip() for part in value.split(",") if part.strip())
                elif name in repeated:
                    value = tuple(value or ())
                values[to_field[name]] = value
            return body(config_cls(**values), quiet=quiet)

        del command.__wrapped__  # Typer reads the signature below, not the body's
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap
