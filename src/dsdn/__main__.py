"""``python -m dsdn`` is the same as the ``dsdn`` command."""

from .cli import app

app(prog_name="dsdn")
