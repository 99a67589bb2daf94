"""A small PromQL reader: enough of the language to check the alert rules and dashboard queries."""

import re

PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring",
                   "group_left", "group_right", "atan2"}


def metric_names(expr):
    """Metric names a PromQL expression selects (a small tokenizer, enough for our rules)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for mt in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        tok = mt.group(0)
        if tok.lower() in PROMQL_KEYWORDS:
            continue
        if mt.start() > 0 and (s[mt.start() - 1].isdigit() or s[mt.start() - 1] == "."):
            continue  # 1e3, 5m
        if s[mt.end():].lstrip().startswith("("):
            continue  # function or aggregation
        if tok.startswith("$"):
            continue
        names.add(tok)
    return names


def selectors(expr, metric):
    """The label-matcher strings of every selector of `metric` in `expr`."""
    return [mt.group(1) or "" for mt in re.finditer(r"\b" + re.escape(metric) + r"\b(?:\{([^}]*)\})?", expr)]


def split_top_level(expr, op):
    """Split at `op` characters that are outside (), {}, [] and strings."""
    depth, parts, cur, i, quote = 0, [], "", 0, None
    while i < len(expr):
        ch = expr[i]
        if quote:
            cur += ch
            if ch == "\\":
                cur += expr[i + 1]
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            cur += ch
        elif ch in "([{":
            depth += 1
            cur += ch
        elif ch in ")]}":
            depth -= 1
            cur += ch
        elif depth == 0 and expr.startswith(op, i):
            parts.append(cur)
            cur = ""
            i += len(op)
            continue
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return parts


def strip_parens(s):
    s = s.strip()
    while s.startswith("(") and s.endswith(")"):
        depth = 0
        for i, ch in enumerate(s):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(s) - 1:
                return s
        s = s[1:-1].strip()
    return s
