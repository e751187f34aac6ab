"""The sentinel fixture itself: it must catch a leak, or every leak test proves nothing."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_sentinel_fixture_fails_a_test_that_prints_the_value(pytester: pytest.Pytester) -> None:
    """A test printing its sentinel is reported failed, naming where the value leaked."""
    pytester.makeconftest((__import__("pathlib").Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(
        """
        import logging

        def test_prints(sentinel):
            print("value is", sentinel)

        def test_logs(sentinel):
            logging.getLogger("x").debug("value %s", sentinel)

        def test_clean(sentinel):
            print("nothing to see")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "log_level=DEBUG")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*sentinel secret value leaked into: Captured stdout call*"])
    result.stdout.fnmatch_lines(["*sentinel secret value leaked into: Captured log call*"])


def test_sentinel_fixture_blames_exceptions_not_the_tests_own_failures(
    pytester: pytest.Pytester,
) -> None:
    """An exception quoting the value is a leak; a failing assertion of the test, whose long
    traceback prints the sentinel argument, is reported as the plain failure it is."""
    pytester.makeconftest((__import__("pathlib").Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(
        """
        def test_raises_with_value(sentinel):
            try:
                raise KeyError(sentinel)
            except KeyError as error:
                raise RuntimeError("wrapped") from error

        def test_fails_for_another_reason(sentinel):
            assert sentinel == "something else"
        """
    )
    # -rN: the short summary repeats each failure's text, differently across pytest versions.
    result = pytester.runpytest("-p", "no:cacheprovider", "--tb=long", "-rN")
    result.assert_outcomes(failed=2)
    report = result.stdout.str()
    leaking, _, plain = report.partition(" test_fails_for_another_reason ")
    assert "sentinel secret value leaked into: an exception's text" in leaking
    assert plain, "the plain failure's section is missing"
    assert "sentinel secret value leaked" not in plain


def test_sentinel_fixture_walks_frame_locals_chains_and_exposed_objects(
    pytester: pytest.Pytester,
) -> None:
    """The check reaches what an error reporter reads (finding 4 of the hardening issue): a
    value in a library frame's local variable, in an exception's ``__context__`` (hidden from
    printing by ``from None``), in an exception's attribute, and in an error a test exposes
    (as kept in ``snapshot.errors``), is each a leak; the test's own frames are not."""
    pytester.makeconftest((__import__("pathlib").Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(
        probe="""
        def holds_in_a_local(value):
            data = value.encode()
            raise ValueError("refused")

        def holds_in_the_context(value):
            try:
                raise KeyError(value)
            except KeyError:
                raise ValueError("refused") from None

        class Held(Exception):
            def __init__(self, value):
                super().__init__("refused")
                self.detail = value

        def kept_error(value):
            try:
                holds_in_a_local(value)
            except ValueError as error:
                return error
        """,
        test_probe="""
        import probe

        def test_frame_local(sentinel):
            probe.holds_in_a_local(sentinel)

        def test_context(sentinel):
            probe.holds_in_the_context(sentinel)

        def test_attribute(sentinel):
            raise probe.Held(sentinel)

        def test_exposed(sentinel, expose):
            expose({"name": probe.kept_error(sentinel)})

        def test_own_frame_is_not_a_leak(sentinel):
            local = sentinel
            raise ValueError("refused")
        """,
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-rN")
    result.assert_outcomes(failed=5)
    report = result.stdout.str()
    for test, place in (
        ("test_frame_local", "frame probe.holds_in_a_local local 'data'"),
        ("test_context", "ValueError.__context__ KeyError text"),
        ("test_attribute", "Held.detail"),
        ("test_exposed", "local 'value'"),
    ):
        section = report.partition(f" {test} ")[2].partition("___ test_")[0]
        assert "sentinel secret value leaked into: an exception's text or what it holds" in section
        assert place in section, (test, section)
    own = report.partition(" test_own_frame_is_not_a_leak ")[2]
    assert own
    assert "sentinel secret value leaked" not in own
