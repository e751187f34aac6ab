"""Stand-in for a tool that authenticates with a token read from standard input.

It checks that a token arrived and writes a receipt that does not contain it.
"""

import sys

token = sys.stdin.read().strip()
if not token:
    sys.exit("fetch: no token on standard input")
print(f"fetch: authenticated with a {len(token)}-character token; artifact fetched")
