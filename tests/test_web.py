"""``dsdn web``: the local Gradio page, driven in headless Chromium (Debian's ``chromium``).

Skipped where Gradio, Playwright or Chromium is missing, unless ``DSDN_REQUIRE_BROWSER=1`` (set by
``.ci/run``, which installs them), in which case their absence fails the test.
"""

import io
import os
import shutil
import socket

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from dsdn.cli import app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("DSDN_REQUIRE_BROWSER") == "1"
# Flags for a machine with no screen and a closed network (see the project's stack notes).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def _need(condition: bool, why: str) -> None:
    if not condition:
        if REQUIRED:
            pytest.fail(f"{why} (DSDN_REQUIRE_BROWSER=1)")
        pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def page_url(trained_model_dir, tmp_path_factory):
    try:
        import gradio  # noqa: F401
    except ImportError:
        _need(False, "gradio is not installed (pip install -e '.[web]')")
    from dsdn.web import HOST, build_demo

    demo = build_demo(str(trained_model_dir), device="cpu", out_dir=tmp_path_factory.mktemp("web"))
    port = _free_port()
    demo.queue().launch(server_name=HOST, server_port=port, share=False, prevent_thread_lock=True, quiet=True)
    yield f"http://{HOST}:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def browser():
    _need(os.path.exists(CHROMIUM), f"Chromium is not installed ({CHROMIUM}; Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.slow
def test_page_generates_and_shows_a_video(page_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1000, "height": 1100})
    page.goto(page_url)
    page.locator("#prompt textarea").fill("a blue square moving up")
    page.locator("#seed input").fill("3")
    page.locator("#frames input[type=number]").fill("4")
    page.locator("#steps input[type=number]").fill("2")
    page.locator("#generate").click()
    video = page.locator("#video video")
    video.wait_for(state="visible", timeout=120_000)
    assert video.get_attribute("src").split("?")[0].endswith(".mp4")
    # The browser decodes the mp4 (H.264) and paints a frame: the element's screenshot is not blank.
    page.wait_for_function("document.querySelector('#video video').readyState >= 2", timeout=60_000)
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    box = video.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    pixels = np.asarray(Image.open(io.BytesIO(video.screenshot())).convert("RGB"), dtype=np.float32)
    assert pixels.std() > 5.0, "the video element's screenshot is blank"
    page.close()


@pytest.mark.parametrize(
    "field, value, needle",
    [("#prompt", "   ", "must be a non-empty text"), ("#travel", "later: a blue circle", "must be FRAME:TEXT"),
     ("#loop", None, "needs --context-frames below --frames")],
)  # fmt: skip
@pytest.mark.slow
def test_page_bad_input_shows_the_one_line_error(page_url, browser, field, value, needle):
    page = browser.new_page()
    page.goto(page_url)
    if value is None:  # a checkbox: ticked
        page.locator(f"{field} input").check()
    else:
        page.locator(f"{field} textarea").fill(value)
    page.locator("#generate").click()
    page.get_by_text(needle).first.wait_for(timeout=60_000)
    assert page.locator("#video video").count() == 0
    page.close()


@pytest.mark.slow
def test_page_is_served_on_localhost_only(page_url):
    assert page_url.startswith("http://127.0.0.1:")


def test_web_command_refuses_a_bad_port():
    res = CliRunner().invoke(app, ["web", "--port", "70000"])
    assert res.exit_code == 2 and "port" in res.output and "Traceback" not in res.output


def test_web_without_gradio_says_how_to_install(monkeypatch):
    import sys

    from dsdn.errors import DSDNInputError
    from dsdn.web import build_demo

    monkeypatch.setitem(sys.modules, "gradio", None)  # as if the extra were not installed
    with pytest.raises(DSDNInputError, match=r"pip install 'dsdn\[web\]'"):
        build_demo()


@pytest.mark.slow
def test_a_picture_sets_the_early_gamma_slider_to_image_to_videos_default(trained_model_dir, tmp_path):
    try:
        import gradio  # noqa: F401
    except ImportError:
        _need(False, "gradio is not installed (pip install -e '.[web]')")
    from dsdn.options import IMAGE_EARLY_COHERENCE
    from dsdn.web import build_demo

    demo = build_demo(str(trained_model_dir), device="cpu", out_dir=tmp_path)
    fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
    (event,) = [f for f in fns if [getattr(c, "elem_id", None) for c in f.inputs] == ["image"]]
    assert [c.elem_id for c in event.outputs] == ["early_gamma"]
    early = next(c for c in demo.blocks.values() if getattr(c, "elem_id", None) == "early_gamma")
    assert event.fn("first.png") == IMAGE_EARLY_COHERENCE
    assert event.fn(None) == early.value  # cleared: the model's own early γ, as the page opened
