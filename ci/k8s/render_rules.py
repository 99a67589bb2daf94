"""Render the alert rules for a profile (used by ci/render-rules).

The rule file k8s/monitoring/rules/bookstore-rules.yml is the single source of
truth. Its `for:` durations are the production values; the "test" profile
rewrites them to short ones so a local test Prometheus fires the same rules
within seconds. Only the `for:` lines change (a line-based rewrite keeps the
file byte-for-byte identical otherwise).
"""

import re

DEFAULT_RULES = "k8s/monitoring/rules/bookstore-rules.yml"

# Production duration -> test duration. Other durations are divided by 15
# (5m -> 20s), with a floor of 5s.
TEST_FOR = {"5m": "20s", "1m": "10s"}
PROFILES = ("prod", "test")

_FOR_LINE = re.compile(r"^(?P<indent>\s*)for:\s*(?P<value>[^\s#]+)(?P<rest>\s*(#.*)?)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(value):
    """Seconds in a Prometheus duration such as 1h30m or 20s."""
    pos, total = 0, 0.0
    for m in _DURATION.finditer(value):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(value) or not value:
        raise ValueError(f"not a Prometheus duration: {value!r}")
    return total


def test_duration(value):
    if value in TEST_FOR:
        return TEST_FOR[value]
    seconds = max(5, int(parse_duration(value) // 15))
    return f"{seconds}s"


def render(text, profile):
    """Return the rule file text for `profile` ("prod" or "test")."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (expected one of {', '.join(PROFILES)})")
    if profile == "prod":
        return text
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        m = _FOR_LINE.match(body)
        if m:
            value = m.group("value").strip("'\"")
            body = f"{m.group('indent')}for: {test_duration(value)}{m.group('rest')}"
        out.append(body + ending)
    return "".join(out)


def for_durations(text):
    """The `for:` values of a rule file, in order."""
    values = []
    for line in text.splitlines():
        m = _FOR_LINE.match(line)
        if m:
            values.append(m.group("value").strip("'\""))
    return values
