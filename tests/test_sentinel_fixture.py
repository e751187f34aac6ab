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
