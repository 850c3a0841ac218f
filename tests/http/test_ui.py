"""The page at `GET /`: served by the app itself, and used in a real browser (Debian's Chromium)."""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.drawing import draw_digit, encode

CHROMIUM = Path("/usr/bin/chromium")
# The flags this machine needs: no sandbox as root, and no calls home (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Set to a folder (e.g. docs/) to keep the screenshots this test takes.
SCREENSHOT_DIR = os.environ.get("MNIST_SERVE_SCREENSHOT_DIR")
NO_ANSWER = "\u2013"  # the en dash a model card shows before its first answer
HOOKS = ('data-testid="pad"', 'data-testid="clear"', 'data-testid="seen"')


# --- the page as plain HTTP -----------------------------------------------------------------


def test_page_is_served_with_its_hooks_and_a_strict_policy(server):
    response = server.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    for hook in HOOKS:
        assert hook in response.text
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    # The per-model hooks are made from the models the server has loaded.
    assert "prediction-${name}" in server.get("/static/app.js").text


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/app.js", "javascript"),
        ("/static/style.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
def test_static_files_come_from_the_app_not_a_cdn(server, path, content_type):
    response = server.get(path)
    assert response.status_code == 200
    assert content_type in response.headers["Content-Type"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    text = response.text + server.get("/").text
    external = re.findall(r"""(?:src|href|url\()\s*=?\s*["']?(?:https?:)?//""", text)
    assert external == [], "the page must not load anything from another origin"


def test_a_missing_static_file_is_a_json_404(server):
    response = server.get("/static/nope.js")
    assert response.status_code == 404
    assert response.json()["status"] == 404


# --- the page in Chromium ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is missing: `make test` installs it with the dev extra")
        pytest.skip("playwright is missing (pip install -e '.[dev]')")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page_errors() -> list[str]:
    """What the page logged as errors; a test expecting some removes them."""
    return []


@pytest.fixture
def page(browser, server, page_errors):
    # Reduced motion: the bars do not animate, so screenshots show their final lengths.
    context = browser.new_context(viewport={"width": 1100, "height": 760}, reduced_motion="reduce")
    page = context.new_page()
    errors = page_errors
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.goto(server.url + "/")
    page.get_by_test_id("prediction-mlp").wait_for()
    yield page
    context.close()
    assert errors == [], f"the page logged errors: {errors}"


def pad_box(page) -> dict:
    return page.get_by_test_id("pad").bounding_box()


def stroke(page, points: list[tuple[float, float]], pointer: str = "mouse") -> None:
    """Draw through `points` (fractions of the pad) with real pointer events."""
    box = pad_box(page)
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    if pointer == "mouse":
        page.mouse.move(*xy[0])
        page.mouse.down()
        for x, y in xy[1:]:
            page.mouse.move(x, y, steps=4)
        page.mouse.up()
        return
    # Pen and touch go through Chromium's own input pipeline (DevTools protocol), as a tablet's
    # or a phone's do: real PointerEvents of that pointerType, pointer capture included.
    cdp = page.context.new_cdp_session(page)
    if pointer == "pen":
        send = [("mousePressed", *xy[0])] + [("mouseMoved", x, y) for x, y in xy[1:]]
        for kind, x, y in [*send, ("mouseReleased", *xy[-1])]:
            cdp.send(
                "Input.dispatchMouseEvent",
                {
                    "type": kind,
                    "x": x,
                    "y": y,
                    "button": "left",
                    "buttons": 1,
                    "clickCount": 1,
                    "pointerType": "pen",
                },
            )
    else:
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchStart", "touchPoints": [{"x": xy[0][0], "y": xy[0][1]}]},
        )
        for x, y in xy[1:]:
            cdp.send(
                "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
            )
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def circle(cx=0.5, cy=0.5, rx=0.22, ry=0.32, n=40) -> list[tuple[float, float]]:
    return [
        (cx + rx * math.sin(2 * math.pi * k / n), cy - ry * math.cos(2 * math.pi * k / n))
        for k in range(n + 1)
    ]


def predictions(page) -> tuple[str, str]:
    return (
        page.get_by_test_id("prediction-mlp").inner_text().strip(),
        page.get_by_test_id("prediction-xgboost").inner_text().strip(),
    )


def wait_for_predictions(page, expected: str) -> None:
    """Until both models show `expected` (the page predicts on release)."""
    for hook in ("prediction-mlp", "prediction-xgboost"):
        page.wait_for_function(
            "([hook, want]) => document.querySelector(`[data-testid=${hook}]`).textContent.trim() === want",
            arg=[hook, expected],
            timeout=10_000,
        )


def save(page, name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SCREENSHOT_DIR) / name)
    return path


def test_drawing_a_one_and_a_zero_both_models_read_them(page, tmp_path):
    assert predictions(page) == (NO_ANSWER, NO_ANSWER)
    stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    wait_for_predictions(page, "1")
    assert "agree" in page.get_by_test_id("agreement").inner_text()
    # The 28x28 the models saw is drawn: its centre column is lit.
    seen = page.evaluate(
        "() => Array.from(document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0))"
    )
    assert max(seen) == 255 and sum(seen[14 * 28 + 12 : 14 * 28 + 16]) > 0

    page.get_by_test_id("clear").click()
    assert predictions(page) == (NO_ANSWER, NO_ANSWER)
    assert page.get_by_test_id("agreement").inner_text() == "No prediction yet."

    stroke(page, circle(), pointer="pen")
    wait_for_predictions(page, "0")
    bars = (
        page.locator("[data-testid=prediction-mlp]")
        .locator("xpath=ancestor::article")
        .locator("li.top")
    )
    assert bars.count() == 1 and bars.get_attribute("aria-label").startswith("0: ")
    save(page, "screenshot.png", tmp_path)


def test_a_pen_can_draw_a_seven(page):
    stroke(page, [(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)], pointer="pen")
    wait_for_predictions(page, "7")


def test_uploading_a_png_shows_its_predictions(page, tmp_path):
    upload = tmp_path / "seven.png"
    upload.write_bytes(encode(draw_digit(7, size=300, stroke=30, canvas=(640, 480), at=(60, 90))))
    page.get_by_test_id("upload").set_input_files(str(upload))
    wait_for_predictions(page, "7")


def test_an_unreadable_upload_says_why(page, page_errors, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"these are not pixels")
    page.get_by_test_id("upload").set_input_files(str(bad))
    status = page.get_by_role("status")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('not a PNG')", timeout=10_000
    )
    assert "Could not read that" in status.inner_text()
    assert predictions(page) == (NO_ANSWER, NO_ANSWER)
    # Chromium logs the 400 itself; that one is expected.
    assert page_errors == [
        "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"
    ]
    page_errors.clear()


def test_keyboard_alone_draws_and_clears(page):
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testid") == "pad"
    # Up from the centre, then down through it: a vertical stroke, a 1.
    for _ in range(9):
        page.keyboard.press("Shift+ArrowUp")
    for _ in range(18):
        page.keyboard.press("ArrowDown")
    wait_for_predictions(page, "1")
    page.keyboard.press("Escape")
    assert predictions(page) == (NO_ANSWER, NO_ANSWER)
    # The clear button is reachable and works with the keyboard too.
    page.get_by_test_id("clear").focus()
    page.keyboard.press("Enter")
    assert page.get_by_role("status").inner_text().startswith("Cleared")


def test_phone_layout_fits_the_screen(browser, server, tmp_path):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        has_touch=True,
        is_mobile=True,
    )
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_test_id("prediction-xgboost").wait_for()
    stroke(page, circle(), pointer="touch")
    wait_for_predictions(page, "0")
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = pad_box(page)
    assert box["width"] >= 280 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    save(page, "screenshot-phone.png", tmp_path)
    context.close()
