"""What makes a variable look like a secret: its value's shape, or its name.

Two small, documented rules, kept predictable on purpose (the table is in
``docs/doctor.md``):

- **By value** (:func:`value_shape`): the value holds a well-known credential format, whatever
  the variable is called: a PEM private key block, a Docker Swarm join token or unlock key, an
  AWS access key id, a Google API key or OAuth client secret, an Azure storage or Service Bus
  key, an Entra ID client secret, a GitHub, GitLab, Slack or Stripe token, or a URL that carries
  a password (``postgres://user:pw@host``). Hex digests (``PYTHON_SHA256``), key ids and
  public certificates match none of these.
- **By name** (:func:`secret_name_reason`): the variable's last word (words are separated by
  ``_``) is a secret word (``PASSWORD``, ``TOKEN``, ``SECRET``...), or its last two words are a
  qualified key (``API_KEY``, ``SECRET_ACCESS_KEY``, ``PRIVATE_KEY``, ``APP_KEY``...). ``KEY``
  alone is not a secret word: ``GPG_KEY`` in the official images is the fingerprint of a release
  signing key, public by design, and ``SORT_KEY``, ``PRIMARY_KEY`` name no credential. Only the
  end of the name counts, so ``PASSWORD_MIN_LENGTH``, ``TOKEN_URL`` and ``SECRETS_DIR`` do not
  match. The shell's ``PWD`` is not a password.

Neither rule ever returns or keeps the value: each answers with a phrase for the message.
"""

from __future__ import annotations

import re

#: (phrase, pattern) pairs, checked in order; the first that matches names the value's kind.
_VALUE_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("a Docker Swarm join token", re.compile(r"SWMTKN-1-[0-9a-z]+-[0-9a-z]+")),
    ("a Docker Swarm unlock key", re.compile(r"SWMKEY-1-[A-Za-z0-9+/=]+")),
    (
        "an AWS access key id",
        re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ),
    ("a Google API key", re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])")),
    ("a Google OAuth client secret", re.compile(r"GOCSPX-[0-9A-Za-z_-]{20,}")),
    ("an Azure storage account key", re.compile(r"AccountKey=[A-Za-z0-9+/]{40,}={0,2}")),
    ("an Azure shared access key", re.compile(r"SharedAccessKey=[A-Za-z0-9+/]{20,}={0,2}")),
    ("an Azure shared access signature", re.compile(r"[?&;]sig=[A-Za-z0-9%+/]{20,}")),
    (
        "an Azure (Entra ID) client secret",
        re.compile(r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}"),
    ),
    ("a GitHub token", re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("a GitLab token", re.compile(r"glpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Stripe secret key", re.compile(r"(?:sk|rk)_live_[A-Za-z0-9]{20,}")),
    # scheme://user:password@host, the user possibly empty (redis://:pw@host)
    ("a URL with a password", re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")),
)

#: A name ending in one of these words names a secret.
SECRET_WORDS = frozenset(
    (
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "PASSPHRASE",
        "SECRET",
        "TOKEN",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
    )
)
#: A name ending in ``<one of these>_KEY`` names a secret key.
KEY_QUALIFIERS = frozenset(
    (
        "ACCESS",
        "ACCOUNT",
        "API",
        "APP",
        "AUTH",
        "ENCRYPTION",
        "HMAC",
        "JWT",
        "LICENSE",
        "MASTER",
        "PRIVATE",
        "SECRET",
        "SESSION",
        "SHARED",
        "SIGNING",
        "SSH",
    )
)
#: Whole names that end like a secret word but are not secrets.
NOT_SECRET_NAMES = frozenset(("PWD",))
#: Values that are switches, not secrets (``USE_TOKEN=true``).
FLAG_VALUES = frozenset(("", "0", "1", "true", "false", "yes", "no", "on", "off"))


def value_shape(value: str) -> str | None:
    """The kind of credential ``value`` holds (``"a PEM private key"``...), or ``None``."""
    for phrase, pattern in _VALUE_SHAPES:
        if pattern.search(value):
            return phrase
    return None


def secret_name_reason(name: str) -> str | None:
    """Why the variable ``name`` names a secret (``"named like a password"``), or ``None``.

    Only the name's last word, or last two words for a key, count (see the module's rules).
    """
    upper = name.upper()
    if upper in NOT_SECRET_NAMES:
        return None
    words = [word for word in upper.split("_") if word]
    if not words:
        return None
    last = words[-1]
    if last in SECRET_WORDS:
        return f"named like a {_WORD_KIND.get(last, last.lower())}"
    if last == "KEY" and len(words) > 1 and words[-2] in KEY_QUALIFIERS:
        return f"named like a secret key ({words[-2]}_KEY)"
    return None


def is_flag(value: str) -> bool:
    """Whether ``value`` is a switch (``true``, ``0``, ``off``...) rather than a credential."""
    return value.strip().lower() in FLAG_VALUES


_WORD_KIND = {
    "PASS": "password",
    "PASSWD": "password",
    "PWD": "password",
    "APIKEY": "API key",
    "CREDENTIALS": "credential",
}
