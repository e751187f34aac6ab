"""The built site as a reader sees it: headless Chromium on pages served from loopback.

Three pages are rendered (the index, an integration page, the API reference): each is
screenshotted, and its DOM, as Chromium built it, is checked for what a reader needs:
navigation, highlighted code, and no markup left raw by a rendering mistake (``:func:``,
``**bold**``, a fence). Set ``RUNSECRETS_DOCS_SCREENSHOTS=DIR`` to keep the PNGs there.
"""

from __future__ import annotations

import functools
import html
import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._site import Built

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

#: The flags this machine needs: no sandbox as root, and nothing that reaches for the network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

#: The pages looked at, and whether each shows code blocks (the API page shows signatures).
PAGES = {"index.html": True, "integrations/flask.html": True, "api/runsecrets.html": False}

#: Text that only shows when markup was not rendered.
RAW_MARKUP = (
    re.compile(r":(?:func|class|meth|attr|exc|mod|data|obj|doc|ref):`"),
    re.compile(r"\*\*[^*\s][^*\n]*\*\*"),  # **bold** left as typed (not **kwargs)
    re.compile(r"```"),
    re.compile(r"\{(?:testcode|testoutput|literalinclude|eval-rst)\}"),
    re.compile(r"^\.\. \w+::", re.MULTILINE),
)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium (``.ci/run`` installs it; CI fails without it)."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def site(built: Built) -> Iterator[str]:
    """The built site served on a free loopback port, for the module's tests."""
    handler = functools.partial(QuietHandler, directory=str(built.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """The tests read pages, not access logs."""


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def main_text(dom: str) -> str:
    """The text of the page's article, as a reader reads it."""
    article = dom.split('<article role="main"', 1)[1].split("</article>", 1)[0]
    article = re.sub(r"<(script|style)\b.*?</\1>", "", article, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", article))


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_with_navigation_highlighted_code_and_no_raw_markup(
    chromium: str, site: str, page: str, tmp_path: Path
) -> None:
    """Chromium renders the page; it has the site navigation, highlighted code, and text
    without leftover markup; the screenshot is a full-size image."""
    url = f"{site}/{page}"
    shot = tmp_path / (page.replace("/", "-").removesuffix(".html") + ".png")
    result = run_chromium(
        chromium, tmp_path / "profile-shot", "--window-size=1280,1000", f"--screenshot={shot}", url
    )
    assert shot.is_file(), result.stderr
    assert png_size(shot) == (1280, 1000)
    assert shot.stat().st_size > 30_000, "a nearly empty screenshot"
    keep = os.environ.get("RUNSECRETS_DOCS_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)

    dump = run_chromium(chromium, tmp_path / "profile-dom", "--dump-dom", url)
    dom = dump.stdout
    assert "furo-main-content" in dom, dump.stderr
    navigation = dom.split('class="sidebar-tree"', 1)[1].split("</div>", 1)[0]
    for section in ("Getting started", "Hot reload", "API reference", "Command line"):
        assert section in navigation, f"{section!r} missing from the navigation"
    if PAGES[page]:
        assert re.search(r'<div class="highlight-(python|console|default)[^"]*"', dom)
        assert re.search(r'<span class="(k|kn|nb|nf|s2|gp)">', dom), "code is not highlighted"
    else:
        assert dom.count('class="sig sig-object py"') > 20, "no API entries"
        assert '<span class="sig-paren">(</span>' in dom, "no signatures"
    text = main_text(dom)
    for pattern in RAW_MARKUP:
        found = pattern.search(text)
        assert found is None, f"raw markup in {page}: {text[max(0, found.start() - 60) :][:120]!r}"
