"""The alert rules: PromQL over series the services emit, the README's thresholds, promtool tests.

The rule file k8s/monitoring/rules/bookstore-rules.yml is read as written and as Prometheus
loads it (the rendered ConfigMap). promtool itself (check rules, test rules) runs in
ci/validate-k8s; test_mutations.py runs `promtool test rules` on the rule mutations too.
"""

import os
import re

import yaml

from . import promql
from .manifests import EMITTED_METRICS, REQUIRED_ALERTS, RULES_FILE, RULES_TESTS, import_ci_module

render_rules = import_ci_module("render_rules")  # ci/k8s/render_rules.py, shared with ci/render-rules


def test_defect_alert_rules_use_emitted_metrics(k8s):
    """alerting on metrics nobody emits: rules use only the series the services export (and up)"""
    rules = k8s.rules()
    groups = {g["name"]: g for g in rules.get("groups", [])}
    assert "bookstore.rules" in groups, "no rule group bookstore.rules"
    found = {}
    for g in rules["groups"]:
        for r in g.get("rules", []):
            if "alert" not in r:
                continue
            found[r["alert"]] = r
            unknown = promql.metric_names(r["expr"]) - EMITTED_METRICS
            assert not unknown, f"{r['alert']}: uses {sorted(unknown)}, which no service emits"
    for name, (severity, dur) in REQUIRED_ALERTS.items():
        r = found.get(name)
        assert r, f"alert {name} is missing"
        assert (r.get("labels") or {}).get("severity") == severity, f"{name}: severity must be {severity}"
        assert str(r.get("for")) == dur, f"{name}: for must be {dur} (is {r.get('for')})"
    up = found.get("ServiceDown")
    if up:
        assert re.fullmatch(r"\s*up\s*==\s*0\s*", up["expr"]), "ServiceDown must be `up == 0`"
    for name, limit in (("HighMemoryUsage", "bookstore_memory_limit_bytes"),
                        ("HighCPUUsage", "bookstore_cpu_limit_cores")):
        r = found.get(name)
        if r:
            assert limit in r["expr"] and re.search(r">\s*0\.8\s*$", r["expr"].strip()), (
                f"{name}: must compare usage with {limit} against 0.8")
    r = found.get("HighResponseTime")
    if r:
        assert ("histogram_quantile(0.95," in r["expr"].replace(" ", "").replace("\n", "")
                and "http_request_duration_seconds_bucket" in r["expr"] and re.search(r">\s*1\s*$", r["expr"].strip())), (
            "HighResponseTime: must be histogram_quantile(0.95, ... http_request_duration_seconds_bucket ...) > 1")
    # The rule file must be the one Prometheus loads (generated, not copied).
    cm = k8s.configmap_data(k8s.prometheus_configmap_name()) or {}
    assert cm.get("bookstore-rules.yml") == k8s.read(RULES_FILE), (
        "the Prometheus ConfigMap does not carry k8s/monitoring/rules/bookstore-rules.yml verbatim")
    # Every rule has a promtool unit test that fires it and one that expects silence.
    tested = {}
    tests_dir = os.path.join(k8s.root, RULES_TESTS)
    for fn in sorted(os.listdir(tests_dir)) if os.path.isdir(tests_dir) else []:
        if not fn.endswith((".yml", ".yaml")):
            continue
        t = yaml.safe_load(k8s.read(os.path.join(RULES_TESTS, fn)))
        for case in t.get("tests", []):
            for at in case.get("alert_rule_test", []):
                tested.setdefault(at["alertname"], set()).add(bool(at.get("exp_alerts")))
    for name in REQUIRED_ALERTS:
        assert tested.get(name) == {True, False}, (
            f"{name}: needs promtool tests where it fires and where it stays silent (has {tested.get(name)})")
    # The test profile shortens every `for` and changes nothing else.
    text = k8s.read(RULES_FILE)
    test_text = render_rules.render(text, "test")
    assert len(render_rules.for_durations(text)) == len(found), "every alert needs a `for:` line"
    for prod, short in zip(render_rules.for_durations(text), render_rules.for_durations(test_text)):
        assert render_rules.parse_duration(short) < render_rules.parse_duration(prod), (
            f"test profile does not shorten for: {prod}")
    strip = lambda s: [ln for ln in s.splitlines() if not ln.strip().startswith("for:")]  # noqa: E731
    assert strip(text) == strip(test_text), "the test profile changes more than the for: lines"


def test_defect_error_rate_alert_is_ratio(k8s):
    """error-rate alert using an absolute rate where the README says '> 10 %'"""
    rule = None
    for g in k8s.rules().get("groups", []):
        for r in g.get("rules", []):
            if r.get("alert") == "HighErrorRate":
                rule = r
    assert rule, "no HighErrorRate rule"
    expr = " ".join(rule["expr"].split())
    cmp_parts = promql.split_top_level(expr, ">")
    assert len(cmp_parts) == 2, "HighErrorRate must be `<ratio> > 0.1`"
    ratio, threshold = cmp_parts
    assert threshold.strip() == "0.1", f"threshold is {threshold.strip()}, expected 0.1 (10 %)"
    frac = promql.split_top_level(promql.strip_parens(ratio), "/")
    assert len(frac) == 2, "HighErrorRate is not a ratio (no top-level division)"
    num, den = frac
    num_sel = promql.selectors(num, "http_requests_total")
    den_sel = promql.selectors(den, "http_requests_total")
    assert num_sel and all(re.search(r'status\s*=~\s*"5\.\."', s) for s in num_sel), (
        "numerator must count http_requests_total with status=~\"5..\"")
    assert den_sel and not any("status" in s for s in den_sel), "denominator must count all http_requests_total"
    assert "rate(" in num and "rate(" in den, "both sides must be rates over the same window"
