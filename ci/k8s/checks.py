#!/usr/bin/env python3
"""Defect tests for the Kubernetes manifests (run by ci/validate-k8s).

Each test guards one defect of the original project (SPEC §7, "Known defects
of the original to fix"; tests named defect_*) or one requirement of SPEC
§7-§8 / the seed README (tests named req_*). They read the manifests as
kubectl renders them (`kubectl kustomize k8s`) plus the files the rendering
is made from (Secret template, rule file, Dockerfile), so they see exactly
what `kubectl apply -k k8s` would send.

usage: checks.py --rendered FILE [--root DIR] [--junit FILE] [--only NAME ...] [--list]

Only the standard library and PyYAML are used.
"""

import argparse
import fnmatch
import ipaddress
import json
import os
import re
import sys
import time
import traceback
import xml.etree.ElementTree as ET

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render_rules  # noqa: E402

NAMESPACE = "bookstore"
SECRET_NAME = "bookstore-secrets"
CONFIGMAP_NAME = "bookstore-config"
IMAGE = "bookstore"

# The five services: Deployment/app label/Service name -> facts the Swift
# services implement (SPEC §2-§5).
SERVICES = {
    "gateway-service": dict(arg="gateway", port=8080, health="actuator", storage=None, db=None, bus=False,
                            metrics={"/metrics", "/actuator/prometheus"}),
    "user-service": dict(arg="users", port=8080, health="api", storage="postgres", db="userdb", bus=True,
                         metrics={"/metrics"}),
    "payment-service-python": dict(arg="payments-python", port=5000, health="api", storage="mongodb",
                                   db="payment_db", bus=True, metrics={"/metrics"}),
    "payment-service-java": dict(arg="payments-java", port=8080, health="actuator", storage="postgres",
                                 db="payment_db", bus=True, metrics={"/metrics", "/actuator/prometheus"}),
    "review-service": dict(arg="reviews", port=5002, health="api", storage="mongodb", db="review_db", bus=True,
                           metrics={"/metrics"}),
}
HEALTH = {
    "api": dict(liveness="/api/health/live", readiness="/api/health/ready", startup="/api/health/live"),
    "actuator": dict(liveness="/actuator/health/liveness", readiness="/actuator/health/readiness",
                     startup="/actuator/health/liveness"),
}
UPSTREAM_ENV = {
    "USER_SERVICE_URL": "user-service",
    "PAYMENT_PYTHON_SERVICE_URL": "payment-service-python",
    "PAYMENT_JAVA_SERVICE_URL": "payment-service-java",
    "REVIEW_SERVICE_URL": "review-service",
}
# Metrics endpoints of the third-party workloads that are scraped.
THIRD_PARTY_METRICS = {
    "rabbitmq": {(15692, "/metrics")},
    "alertmanager": {(9093, "/metrics")},
    "grafana": {(3000, "/metrics")},
    "prometheus": {(9090, "/metrics")},
}

# Series the services emit (SPEC §3) plus `up`: the only names alert rules may use.
EMITTED_METRICS = {
    "up",
    "http_requests_total",
    "http_request_duration_seconds_bucket", "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count",
    "circuit_breaker_state",
    "messages_published_total", "messages_consumed_total", "messages_dead_lettered_total",
    "process_cpu_seconds_total", "process_resident_memory_bytes",
    "bookstore_memory_limit_bytes", "bookstore_cpu_limit_cores",
}
# The dashboard may also show RabbitMQ's and cAdvisor's series.
DASHBOARD_METRIC_PATTERNS = ["rabbitmq_*", "container_*"]

REQUIRED_ALERTS = {
    # name: (severity, production `for`)
    "HighErrorRate": ("warning", "5m"),
    "HighResponseTime": ("warning", "5m"),
    "ServiceDown": ("critical", "1m"),
    "HighMemoryUsage": ("warning", "5m"),
    "HighCPUUsage": ("warning", "5m"),
}
SECRET_KEYS_NAMED_BY_SPEC = {
    "GRAFANA_PASSWORD", "RABBITMQ_ERLANG_COOKIE", "RABBITMQ_USER", "RABBITMQ_PASS", "POSTGRES_PASSWORD",
    "MONGO_USER", "MONGO_PASSWORD", "JWT_SECRET", "ADMIN_PASSWORD",
}
# Containers allowed to run as root, and why.
ROOT_ALLOWED = {"filebeat": "reads the node's root-owned container log files"}

RULES_FILE = "k8s/monitoring/rules/bookstore-rules.yml"
RULES_TESTS = "k8s/monitoring/rules/tests"
PROMETHEUS_FILE = "k8s/monitoring/prometheus.yml"
SECRET_TEMPLATE = "k8s/secrets.yml"
KUSTOMIZATION = "k8s/kustomization.yaml"


class CheckFailure(AssertionError):
    pass


# --------------------------------------------------------------------------- model

def parse_quantity(q):
    """Kubernetes quantity -> float (cores for cpu, bytes for memory)."""
    s = str(q).strip()
    suffixes = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
                "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
    for suf in sorted(suffixes, key=len, reverse=True):
        if s.endswith(suf):
            return float(s[: -len(suf)]) * suffixes[suf]
    return float(s)


def selector_matches(selector, labels):
    """A LabelSelector (matchLabels/matchExpressions) against a label dict."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Workload:
    """A pod template (Deployment, StatefulSet, DaemonSet, Job)."""

    def __init__(self, obj):
        self.obj = obj
        self.kind = obj["kind"]
        self.name = obj["metadata"]["name"]
        self.namespace = obj["metadata"].get("namespace")
        tmpl = obj["spec"]["template"]
        self.labels = tmpl.get("metadata", {}).get("labels") or {}
        self.annotations = tmpl.get("metadata", {}).get("annotations") or {}
        self.spec = tmpl["spec"]
        self.app = self.labels.get("app")

    @property
    def containers(self):
        return self.spec.get("containers") or []

    @property
    def init_containers(self):
        return self.spec.get("initContainers") or []

    def all_containers(self):
        return self.init_containers + self.containers

    def ports(self):
        out = []
        for c in self.containers:
            for p in c.get("ports") or []:
                out.append(dict(name=p.get("name"), port=p["containerPort"], protocol=p.get("protocol", "TCP")))
        return out

    def resolve_port(self, port, protocol="TCP"):
        """A port number or name -> container port number (or None)."""
        for p in self.ports():
            if p["protocol"] != protocol:
                continue
            if isinstance(port, int) and p["port"] == port:
                return p["port"]
            if isinstance(port, str) and p["name"] == port:
                return p["port"]
        return None

    def volume(self, name):
        for v in self.spec.get("volumes") or []:
            if v["name"] == name:
                return v
        return None

    def env(self, container):
        return container.get("env") or []


class Manifests:
    def __init__(self, docs, root):
        self.docs = [d for d in docs if isinstance(d, dict) and d.get("kind")]
        self.root = root
        self.workloads = [Workload(d) for d in self.docs
                          if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]

    def of_kind(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind, name):
        for d in self.docs:
            if d["kind"] == kind and d["metadata"]["name"] == name:
                return d
        return None

    def workload(self, name, kind=None):
        for w in self.workloads:
            if w.name == name and (kind is None or w.kind == kind):
                return w
        return None

    def by_app(self, app):
        return [w for w in self.workloads if w.app == app]

    def configmap_data(self, name):
        cm = self.get("ConfigMap", name)
        return None if cm is None else (cm.get("data") or {})

    def services_selecting(self, workload):
        out = []
        for s in self.of_kind("Service"):
            sel = s["spec"].get("selector")
            if sel and all(workload.labels.get(k) == v for k, v in sel.items()):
                out.append(s)
        return out

    def pods_of_service(self, svc):
        sel = svc["spec"].get("selector") or {}
        if not sel:
            return []
        return [w for w in self.workloads if all(w.labels.get(k) == v for k, v in sel.items())]

    def read(self, rel):
        with open(os.path.join(self.root, rel), encoding="utf-8") as f:
            return f.read()

    def secret_template(self):
        docs = [d for d in yaml.safe_load_all(self.read(SECRET_TEMPLATE)) if d]
        secrets = [d for d in docs if d.get("kind") == "Secret" and d["metadata"]["name"] == SECRET_NAME]
        if len(secrets) != 1:
            raise CheckFailure(f"{SECRET_TEMPLATE} must contain exactly one Secret {SECRET_NAME}")
        s = secrets[0]
        return s, set((s.get("stringData") or {}).keys()) | set((s.get("data") or {}).keys())

    def rules(self):
        return yaml.safe_load(self.read(RULES_FILE))

    def service_workloads(self):
        return {name: self.workload(name, "Deployment") for name in SERVICES}


# ------------------------------------------------------------------- registry

CHECKS = []


def check(defect):
    """Register a test; `defect` says what it guards against."""
    def wrap(fn):
        CHECKS.append((fn.__name__, defect, fn))
        return fn
    return wrap


class Problems:
    def __init__(self):
        self.items = []

    def add(self, msg):
        self.items.append(msg)

    def expect(self, cond, msg):
        if not cond:
            self.items.append(msg)
        return cond

    def done(self):
        if self.items:
            raise CheckFailure("\n".join(self.items))


# -------------------------------------------------------------- env helpers

def env_sources(m, workload, container):
    """Map env name -> ('literal', value) | ('configmap', name, key) | ('secret', name, key) | ('field', ...)"""
    out = {}
    for e in workload.env(container):
        vf = e.get("valueFrom")
        if vf is None:
            out[e["name"]] = ("literal", str(e.get("value", "")))
        elif "configMapKeyRef" in vf:
            out[e["name"]] = ("configmap", vf["configMapKeyRef"]["name"], vf["configMapKeyRef"]["key"])
        elif "secretKeyRef" in vf:
            out[e["name"]] = ("secret", vf["secretKeyRef"]["name"], vf["secretKeyRef"]["key"])
        elif "resourceFieldRef" in vf:
            out[e["name"]] = ("resource", vf["resourceFieldRef"])
        elif "fieldRef" in vf:
            out[e["name"]] = ("field", vf["fieldRef"]["fieldPath"])
    return out


def env_value(m, workload, container, name):
    """The value an env var gets, resolving ConfigMaps and $(VAR) (None if unknown/secret)."""
    src = env_sources(m, workload, container).get(name)
    if src is None:
        return None
    if src[0] == "literal":
        def sub(mt):
            v = env_value(m, workload, container, mt.group(1))
            return v if v is not None else mt.group(0)
        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, src[1])
    if src[0] == "configmap":
        data = m.configmap_data(src[1]) or {}
        return data.get(src[2])
    return None


def main_container(workload):
    return workload.containers[0]


def url_host_port(url):
    mt = re.match(r"^(https?)://([^/:]+)(?::(\d+))?(/.*)?$", url.strip())
    if not mt:
        return None
    port = int(mt.group(3)) if mt.group(3) else (443 if mt.group(1) == "https" else 80)
    return mt.group(2), port


def service_for_host(m, host):
    """A Service named by an in-cluster DNS name (short or FQDN)."""
    parts = host.split(".")
    name = parts[0]
    if len(parts) > 1 and parts[1] != NAMESPACE:
        return None
    return m.get("Service", name)


# ------------------------------------------------------------ promql helpers

PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring",
                   "group_left", "group_right", "atan2"}


def promql_metric_names(expr):
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


def promql_selectors(expr, metric):
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


# ========================================================================
#                        defects of the original (SPEC §7)
# ========================================================================

@check("gateway routes not applied: the gateway must get every upstream of its route table")
def defect_gateway_routes_applied(m):
    p = Problems()
    gw = m.workload("gateway-service", "Deployment")
    if gw is None:
        raise CheckFailure("no Deployment gateway-service")
    c = main_container(gw)
    p.expect(c.get("args") == ["serve", "gateway"], f"gateway args are {c.get('args')}, expected ['serve', 'gateway']")
    for env, app in UPSTREAM_ENV.items():
        value = env_value(m, gw, c, env)
        if not p.expect(value, f"gateway has no {env} (upstream {app})"):
            continue
        for url in value.split(","):
            hp = url_host_port(url)
            if not p.expect(hp, f"{env}: {url!r} is not an http(s) URL"):
                continue
            host, port = hp
            svc = service_for_host(m, host)
            if not p.expect(svc, f"{env}: host {host!r} is not a Service of namespace {NAMESPACE}"):
                continue
            p.expect(svc["spec"].get("clusterIP") == "None",
                     f"{env}: {host} should be a headless Service (the gateway balances over pod addresses)")
            pods = m.pods_of_service(svc)
            p.expect(pods and all(w.app == app for w in pods),
                     f"{env}: Service {host} selects {[w.name for w in pods]}, expected the pods of {app}")
            sport = [sp for sp in svc["spec"].get("ports", []) if sp["port"] == port]
            if p.expect(sport, f"{env}: Service {host} has no port {port}"):
                tp = sport[0].get("targetPort", port)
                for w in pods:
                    p.expect(w.resolve_port(tp) == SERVICES[app]["port"],
                             f"{env}: {host}:{port} -> targetPort {tp!r} is not {app}'s container port")
                # headless: traffic goes straight to the pod port
                p.expect(port == SERVICES[app]["port"],
                         f"{env}: port {port} is not {app}'s container port {SERVICES[app]['port']}")
    p.done()


@check("no route for /api/auth: login and registration must reach the user service through the gateway")
def defect_auth_route_reaches_users(m):
    p = Problems()
    paths = ["/api/auth/login", "/api/auth/register", "/api/users/health", "/api/payments-python/health",
             "/api/payments-java/actuator/health", "/api/reviews/book/1"]
    for path in paths:
        backends = ingress_backends_for(m, path)
        p.expect(backends == {"gateway-service"},
                 f"Ingress sends {path} to {sorted(backends) or 'nothing'}, expected gateway-service")
    net = NetworkModel(m)
    gw = m.workload("gateway-service")
    users = m.workload("user-service")
    if gw and users:
        ok, why = net.allowed(net.pod(gw), net.pod(users), SERVICES["user-service"]["port"])
        p.expect(ok, f"NetworkPolicies block gateway -> user-service:{SERVICES['user-service']['port']}: {why}")
        ok, why = net.allowed(net.EXTERNAL, net.pod(gw), SERVICES["gateway-service"]["port"])
        p.expect(ok, f"NetworkPolicies block clients -> gateway: {why}")
    p.done()


@check("gateway dropping Authorization: nothing between client and services may strip or rewrite it")
def defect_authorization_header_preserved(m):
    p = Problems()
    for ing in m.of_kind("Ingress"):
        for key, value in (ing["metadata"].get("annotations") or {}).items():
            p.expect("authorization" not in str(value).lower(),
                     f"Ingress {ing['metadata']['name']}: annotation {key} touches the Authorization header")
            p.expect(not key.endswith("/rewrite-target"),
                     f"Ingress {ing['metadata']['name']}: {key} rewrites the path the gateway routes on")
            p.expect(not re.search(r"/auth-(url|signin|snippet)$", key),
                     f"Ingress {ing['metadata']['name']}: {key} authenticates in the Ingress and replaces the token")
    # The gateway forwards the token; every service must be able to verify it: same key, same algorithm.
    refs = set()
    for name, w in m.service_workloads().items():
        if w is None:
            continue
        src = env_sources(m, w, main_container(w))
        refs.add((src.get("JWT_SECRET"), src.get("JWT_ALGORITHM")))
    p.expect(len(refs) == 1, f"the services read different JWT keys/algorithms: {sorted(map(str, refs))}")
    p.done()


@check("Ingress bypassing the gateway and naming a Service that does not exist")
def defect_ingress_targets_gateway_only(m):
    p = Problems()
    ingresses = m.of_kind("Ingress")
    p.expect(ingresses, "no Ingress")
    has_api = False
    for ing in ingresses:
        name = ing["metadata"]["name"]
        backends = []
        if ing["spec"].get("defaultBackend"):
            backends.append(("(default)", ing["spec"]["defaultBackend"]))
        for rule in ing["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backends.append((path.get("path"), path["backend"]))
                if path.get("path") in ("/api", "/api/") and path.get("pathType") in ("Prefix", "ImplementationSpecific"):
                    has_api = True
        for path, be in backends:
            svc_ref = be.get("service")
            if not p.expect(svc_ref, f"Ingress {name} {path}: backend is not a Service"):
                continue
            p.expect(svc_ref["name"] == "gateway-service",
                     f"Ingress {name} {path} -> {svc_ref['name']}: only gateway-service may be exposed")
            svc = m.get("Service", svc_ref["name"])
            if not p.expect(svc, f"Ingress {name} {path} names Service {svc_ref['name']}, which does not exist"):
                continue
            port = svc_ref.get("port") or {}
            names = {sp.get("name") for sp in svc["spec"]["ports"]}
            numbers = {sp["port"] for sp in svc["spec"]["ports"]}
            if "name" in port:
                p.expect(port["name"] in names, f"Ingress {name} {path}: Service port {port['name']!r} does not exist")
            else:
                p.expect(port.get("number") in numbers, f"Ingress {name} {path}: Service port {port} does not exist")
    p.expect(has_api, "no Ingress path /api (Prefix)")
    gw = m.get("Service", "gateway-service")
    p.expect(gw and gw["spec"].get("type") == "LoadBalancer",
             "Service gateway-service must be type LoadBalancer (seed README: kubectl get service gateway-service)")
    for s in m.of_kind("Service"):
        if s["spec"].get("type") in ("LoadBalancer", "NodePort") and s["metadata"]["name"] != "gateway-service":
            p.add(f"Service {s['metadata']['name']} is exposed ({s['spec']['type']}) around the gateway")
    p.done()


@check("Eureka referenced but absent: discovery is by Kubernetes Services only")
def defect_no_eureka(m):
    p = Problems()
    for d in m.docs:
        text = json.dumps(d).lower()
        if "eureka" in text:
            p.add(f"{d['kind']} {d['metadata']['name']} mentions Eureka")
    # Every URL handed to a service must point at a Service that exists.
    for w in m.workloads:
        for c in w.containers:
            for e in w.env(c):
                v = env_value(m, w, c, e["name"])
                if not v or "://" not in v or not v.startswith("http"):
                    continue
                for url in v.split(","):
                    hp = url_host_port(url)
                    in_cluster = hp and ("." not in hp[0] or hp[0].endswith(".svc.cluster.local"))
                    if in_cluster:
                        p.expect(service_for_host(m, hp[0]),
                                 f"{w.name}: {e['name']}={url} names no Service of namespace {NAMESPACE}")
    p.done()


@check("Prometheus scraping endpoints that do not exist: every scrape and probe port exists and is named")
def defect_scrape_and_probe_targets_exist(m):
    p = Problems()
    for w in m.workloads:
        ann = w.annotations
        if ann.get("prometheus.io/scrape") == "true":
            port = ann.get("prometheus.io/port")
            path = ann.get("prometheus.io/path", "/metrics")
            if not p.expect(port and port.isdigit(), f"{w.name}: prometheus.io/port must be a port number"):
                continue
            port = int(port)
            named = [x for x in w.ports() if x["port"] == port]
            p.expect(named and named[0]["name"],
                     f"{w.name}: prometheus.io/port {port} is not a named container port")
            if w.app in SERVICES:
                p.expect(port == SERVICES[w.app]["port"] and path in SERVICES[w.app]["metrics"],
                         f"{w.name}: scrapes {port}{path}; the service serves {sorted(SERVICES[w.app]['metrics'])} "
                         f"on {SERVICES[w.app]['port']}")
            elif w.app in THIRD_PARTY_METRICS:
                p.expect((port, path) in THIRD_PARTY_METRICS[w.app],
                         f"{w.name}: scrapes {port}{path}, expected one of {sorted(THIRD_PARTY_METRICS[w.app])}")
            else:
                p.add(f"{w.name}: scraped, but no known metrics endpoint for app {w.app!r}")
        elif w.app in SERVICES or w.app == "rabbitmq":
            p.add(f"{w.name}: not annotated prometheus.io/scrape: 'true'")
        for c in w.all_containers():
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = c.get(kind)
                if not probe:
                    continue
                act = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc")
                if act is None:
                    continue
                port = act.get("port")
                if isinstance(port, str):
                    p.expect(any(x["name"] == port for x in w.ports()),
                             f"{w.name}/{c['name']} {kind}: port {port!r} is not a container port name")
                else:
                    p.expect(any(x["port"] == port and x["name"] for x in w.ports()),
                             f"{w.name}/{c['name']} {kind}: port {port} is not a named container port")
    # Prometheus itself: Kubernetes discovery of the right namespace, the
    # annotations the pods carry, a reachable Alertmanager.
    cfg_text = (m.configmap_data(prometheus_configmap_name(m)) or {}).get("prometheus.yml")
    if not p.expect(cfg_text, "the Prometheus ConfigMap has no prometheus.yml"):
        p.done()
    cfg = yaml.safe_load(cfg_text)
    pods_job = [j for j in cfg.get("scrape_configs", []) if any(
        sd.get("role") == "pod" for sd in j.get("kubernetes_sd_configs") or [])]
    if p.expect(pods_job, "no scrape job discovers pods (kubernetes_sd_configs role: pod)"):
        job = pods_job[0]
        names = set()
        for sd in job["kubernetes_sd_configs"]:
            names |= set((sd.get("namespaces") or {}).get("names") or [NAMESPACE])
        p.expect(NAMESPACE in names, f"pod discovery does not cover namespace {NAMESPACE}")
        sources = {lbl for rc in job.get("relabel_configs", []) for lbl in rc.get("source_labels", [])}
        for a in ("scrape", "port", "path"):
            p.expect(f"__meta_kubernetes_pod_annotation_prometheus_io_{a}" in sources,
                     f"pod discovery ignores the prometheus.io/{a} annotation")
    p.expect(any(any(sd.get("role") == "node" for sd in j.get("kubernetes_sd_configs") or [])
                 and "cadvisor" in json.dumps(j) for j in cfg.get("scrape_configs", [])),
             "no cAdvisor scrape job (container CPU/memory)")
    for am in (cfg.get("alerting") or {}).get("alertmanagers", []):
        for sc in am.get("static_configs", []):
            for t in sc.get("targets", []):
                host, _, port = t.rpartition(":")
                svc = service_for_host(m, host)
                p.expect(svc and any(sp["port"] == int(port) for sp in svc["spec"]["ports"]),
                         f"Prometheus sends alerts to {t}, which is not a Service port")
    p.done()


@check("alerting on metrics nobody emits: rules use only the series the services export (and up)")
def defect_alert_rules_use_emitted_metrics(m):
    p = Problems()
    rules = m.rules()
    groups = {g["name"]: g for g in rules.get("groups", [])}
    if not p.expect("bookstore.rules" in groups, "no rule group bookstore.rules"):
        p.done()
    found = {}
    for g in rules["groups"]:
        for r in g.get("rules", []):
            if "alert" not in r:
                continue
            found[r["alert"]] = r
            unknown = promql_metric_names(r["expr"]) - EMITTED_METRICS
            p.expect(not unknown, f"{r['alert']}: uses {sorted(unknown)}, which no service emits")
    for name, (severity, dur) in REQUIRED_ALERTS.items():
        r = found.get(name)
        if not p.expect(r, f"alert {name} is missing"):
            continue
        p.expect((r.get("labels") or {}).get("severity") == severity, f"{name}: severity must be {severity}")
        p.expect(str(r.get("for")) == dur, f"{name}: for must be {dur} (is {r.get('for')})")
    up = found.get("ServiceDown")
    if up:
        p.expect(re.fullmatch(r"\s*up\s*==\s*0\s*", up["expr"]), "ServiceDown must be `up == 0`")
    for name, limit in (("HighMemoryUsage", "bookstore_memory_limit_bytes"),
                        ("HighCPUUsage", "bookstore_cpu_limit_cores")):
        r = found.get(name)
        if r:
            p.expect(limit in r["expr"] and re.search(r">\s*0\.8\s*$", r["expr"].strip()),
                     f"{name}: must compare usage with {limit} against 0.8")
    r = found.get("HighResponseTime")
    if r:
        p.expect("histogram_quantile(0.95," in r["expr"].replace(" ", "").replace("\n", "")
                 and "http_request_duration_seconds_bucket" in r["expr"] and re.search(r">\s*1\s*$", r["expr"].strip()),
                 "HighResponseTime: must be histogram_quantile(0.95, ... http_request_duration_seconds_bucket ...) > 1")
    # The rule file must be the one Prometheus loads (generated, not copied).
    cm = m.configmap_data(prometheus_configmap_name(m)) or {}
    p.expect(cm.get("bookstore-rules.yml") == m.read(RULES_FILE),
             "the Prometheus ConfigMap does not carry k8s/monitoring/rules/bookstore-rules.yml verbatim")
    # Every rule has a promtool unit test that fires it and one that expects silence.
    tested = {}
    tests_dir = os.path.join(m.root, RULES_TESTS)
    for fn in sorted(os.listdir(tests_dir)) if os.path.isdir(tests_dir) else []:
        if not fn.endswith((".yml", ".yaml")):
            continue
        t = yaml.safe_load(m.read(os.path.join(RULES_TESTS, fn)))
        for case in t.get("tests", []):
            for at in case.get("alert_rule_test", []):
                tested.setdefault(at["alertname"], set()).add(bool(at.get("exp_alerts")))
    for name in REQUIRED_ALERTS:
        p.expect(tested.get(name) == {True, False},
                 f"{name}: needs promtool tests where it fires and where it stays silent (has {tested.get(name)})")
    # The test profile shortens every `for` and changes nothing else.
    text = m.read(RULES_FILE)
    test_text = render_rules.render(text, "test")
    p.expect(len(render_rules.for_durations(text)) == len(found), "every alert needs a `for:` line")
    for prod, short in zip(render_rules.for_durations(text), render_rules.for_durations(test_text)):
        p.expect(render_rules.parse_duration(short) < render_rules.parse_duration(prod),
                 f"test profile does not shorten for: {prod}")
    strip = lambda s: [ln for ln in s.splitlines() if not ln.strip().startswith("for:")]  # noqa: E731
    p.expect(strip(text) == strip(test_text), "the test profile changes more than the for: lines")
    p.done()


@check("Secret missing GRAFANA_PASSWORD, RABBITMQ_ERLANG_COOKIE, RABBITMQ_USER: every referenced key is in the template")
def defect_secret_template_has_every_key(m):
    p = Problems()
    secret, keys = m.secret_template()
    p.expect(secret["metadata"].get("namespace") in (None, NAMESPACE), "the Secret template is in the wrong namespace")
    missing_named = SECRET_KEYS_NAMED_BY_SPEC - keys
    p.expect(not missing_named, f"the Secret template lacks {sorted(missing_named)}")
    values = dict(secret.get("stringData") or {})
    p.expect(not secret.get("data"), "the Secret template must use stringData placeholders, not data")
    for k, v in values.items():
        p.expect(str(v).startswith("REPLACE_ME"), f"Secret template key {k} holds a value, not a placeholder")
    refs = []
    cm_refs = []
    for w in m.workloads:
        for c in w.all_containers():
            for e in w.env(c):
                vf = e.get("valueFrom") or {}
                if "secretKeyRef" in vf:
                    refs.append((w.name, vf["secretKeyRef"]["name"], vf["secretKeyRef"]["key"]))
                if "configMapKeyRef" in vf:
                    cm_refs.append((w.name, vf["configMapKeyRef"]["name"], vf["configMapKeyRef"]["key"],
                                    vf["configMapKeyRef"].get("optional", False)))
            for ef in c.get("envFrom") or []:
                if "secretRef" in ef:
                    p.expect(ef["secretRef"]["name"] == SECRET_NAME, f"{w.name}: envFrom an unknown Secret")
                if "configMapRef" in ef:
                    p.expect(m.get("ConfigMap", ef["configMapRef"]["name"]), f"{w.name}: envFrom an unknown ConfigMap")
        for v in w.spec.get("volumes") or []:
            if "secret" in v:
                for item in v["secret"].get("items") or []:
                    refs.append((w.name, v["secret"]["secretName"], item["key"]))
                if not v["secret"].get("items"):
                    p.expect(v["secret"]["secretName"] == SECRET_NAME, f"{w.name}: mounts unknown Secret")
            if "configMap" in v:
                data = m.configmap_data(v["configMap"]["name"])
                if p.expect(data is not None, f"{w.name}: mounts ConfigMap {v['configMap']['name']}, which does not exist"):
                    for item in v["configMap"].get("items") or []:
                        p.expect(item["key"] in data, f"{w.name}: ConfigMap {v['configMap']['name']} has no key {item['key']}")
    p.expect(refs, "no workload reads the Secret")
    for wname, sname, key in refs:
        if p.expect(sname == SECRET_NAME, f"{wname}: reads Secret {sname}; only {SECRET_NAME} is provided"):
            p.expect(key in keys, f"{wname}: reads key {key} of {SECRET_NAME}, missing from {SECRET_TEMPLATE}")
    for wname, cname, key, optional in cm_refs:
        data = m.configmap_data(cname)
        if p.expect(data is not None, f"{wname}: reads ConfigMap {cname}, which does not exist"):
            p.expect(key in data or optional, f"{wname}: reads key {key} of ConfigMap {cname}, which it lacks")
    # Keys in the template that nothing reads are dead weight (or a typo).
    used = {k for _, s, k in refs if s == SECRET_NAME}
    p.expect(not (keys - used), f"Secret template keys nothing reads: {sorted(keys - used)}")
    # The template must never be applied over the real Secret.
    kust = yaml.safe_load(m.read(KUSTOMIZATION))
    p.expect("secrets.yml" not in (kust.get("resources") or []),
             "kustomization.yaml applies secrets.yml: its placeholders would overwrite the real Secret")
    p.expect(not m.of_kind("Secret"), "the rendered manifests contain a Secret (real values must not be committed)")
    p.done()


@check("MONGO_URI using $(VAR) before the variable is defined: $(VAR) only names earlier variables")
def defect_env_references_defined_earlier(m):
    p = Problems()
    for w in m.workloads:
        for c in w.all_containers():
            defined = set()
            for ef in c.get("envFrom") or []:
                prefix = ef.get("prefix", "")
                if "configMapRef" in ef:
                    defined |= {prefix + k for k in (m.configmap_data(ef["configMapRef"]["name"]) or {})}
                if "secretRef" in ef:
                    defined |= {prefix + k for k in m.secret_template()[1]}
            for e in w.env(c):
                value = e.get("value")
                if isinstance(value, str):
                    for ref in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", value):
                        p.expect(ref in defined,
                                 f"{w.name}/{c['name']}: {e['name']} uses $({ref}) before {ref} is defined")
                    p.expect(not re.search(r"(?<!\$)\$\{[A-Za-z_]", value),
                             f"{w.name}/{c['name']}: {e['name']} uses ${{VAR}}, which Kubernetes does not expand")
                defined.add(e["name"])
            for field in ("command", "args"):
                for arg in c.get(field) or []:
                    for ref in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(arg)):
                        p.expect(ref in defined, f"{w.name}/{c['name']}: {field} uses $({ref}), which is not defined")
    # MONGO_URI resolves to a replica-set URI with credentials from the Secret.
    for name in ("payment-service-python", "review-service"):
        w = m.workload(name, "Deployment")
        if not p.expect(w, f"no Deployment {name}"):
            continue
        c = main_container(w)
        src = env_sources(m, w, c)
        uri = env_value(m, w, c, "MONGO_URI") or ""
        p.expect(uri.startswith("mongodb://") and "replicaSet=" in uri and "$(" in (src.get("MONGO_URI") or ("", ""))[1],
                 f"{name}: MONGO_URI should be built from the credentials: {uri!r}")
        p.expect(src.get("MONGO_PASSWORD", ("",))[0] == "secret", f"{name}: MONGO_PASSWORD must come from the Secret")
    p.done()


@check("databases never created: userdb and payment_db are created by the PostgreSQL init script")
def defect_databases_created(m):
    p = Problems()
    pg = m.workload("postgres", "StatefulSet")
    if not p.expect(pg, "no StatefulSet postgres"):
        p.done()
    c = main_container(pg)
    init_mounts = [vm for vm in c.get("volumeMounts", []) if vm["mountPath"].rstrip("/") == "/docker-entrypoint-initdb.d"]
    if not p.expect(init_mounts, "postgres mounts nothing at /docker-entrypoint-initdb.d"):
        p.done()
    vol = pg.volume(init_mounts[0]["name"])
    data = m.configmap_data((vol or {}).get("configMap", {}).get("name", "")) or {}
    p.expect(data, "the init volume is not a ConfigMap with scripts")
    script = "\n".join(v for k, v in data.items() if k.endswith((".sql", ".sh")))
    created = set(re.findall(r"CREATE DATABASE\s+\"?([A-Za-z0-9_]+)", script, re.I))
    needed = set()
    for name, w in m.service_workloads().items():
        if w and SERVICES[name]["storage"] == "postgres":
            db = env_value(m, w, main_container(w), "POSTGRES_DB")
            p.expect(db == SERVICES[name]["db"], f"{name}: POSTGRES_DB is {db!r}, expected {SERVICES[name]['db']}")
            p.expect(env_value(m, w, main_container(w), "POSTGRES_HOST") == "postgres",
                     f"{name}: POSTGRES_HOST does not name the postgres Service")
            needed.add(db)
    p.expect(needed >= {"userdb", "payment_db"}, f"services use databases {sorted(needed)}")
    p.expect(not (needed - created), f"init script does not create {sorted(needed - created)}")
    p.expect(m.get("Service", "postgres"), "no Service postgres")
    p.done()


@check("Mongo replica set never initiated: a Job runs rs.initiate with every StatefulSet member")
def defect_mongo_replica_set_initiated(m):
    p = Problems()
    sts = m.workload("mongodb", "StatefulSet")
    if not p.expect(sts, "no StatefulSet mongodb"):
        p.done()
    replicas = sts.obj["spec"].get("replicas", 1)
    args = main_container(sts).get("args") or main_container(sts).get("command") or []
    rs_name = args[args.index("--replSet") + 1] if "--replSet" in args else None
    p.expect(rs_name, "mongod is not started with --replSet")
    p.expect("--keyFile" in args, "a replica set with authentication needs --keyFile")
    cfg = m.configmap_data(CONFIGMAP_NAME) or {}
    p.expect(cfg.get("MONGO_REPLICA_SET") == rs_name,
             f"ConfigMap MONGO_REPLICA_SET={cfg.get('MONGO_REPLICA_SET')!r}, mongod runs --replSet {rs_name}")
    svc_name = sts.obj["spec"]["serviceName"]
    svc = m.get("Service", svc_name)
    p.expect(svc and svc["spec"].get("clusterIP") == "None", f"serviceName {svc_name} is not a headless Service")
    p.expect(svc and svc["spec"].get("publishNotReadyAddresses") is True,
             f"{svc_name} must publish not-ready addresses so members find each other")
    members = [f"mongodb-{i}.{svc_name}.{NAMESPACE}.svc.cluster.local:27017" for i in range(replicas)]
    p.expect(cfg.get("MONGO_HOSTS", "").split(",") == members,
             f"ConfigMap MONGO_HOSTS should list the {replicas} members {members}")
    jobs = [w for w in m.workloads if w.kind == "Job" and "rs.initiate" in job_script(m, w)]
    if p.expect(jobs, "no Job runs rs.initiate"):
        w = jobs[0]
        script = job_script(m, w)
        env = {e["name"]: e.get("value") for e in w.env(main_container(w))}
        p.expect(str(env.get("MONGO_MEMBERS")) == str(replicas),
                 f"Job {w.name}: MONGO_MEMBERS={env.get('MONGO_MEMBERS')}, StatefulSet has {replicas} replicas")
        p.expect(f"mongodb-${{i}}.{svc_name}." in script, f"Job {w.name}: members are not the StatefulSet pod names")
        p.expect("NotYetInitialized" in script, f"Job {w.name}: rs.initiate must be skipped when the set exists")
        rs_src = env_sources(m, w, main_container(w)).get("MONGO_REPLICA_SET")
        p.expect(rs_src and rs_src[0] == "configmap", f"Job {w.name}: replica set name must come from the ConfigMap")
    p.done()


@check("RabbitMQ cluster node names not matching pods")
def defect_rabbitmq_node_names_match_pods(m):
    p = Problems()
    sts = m.workload("rabbitmq", "StatefulSet")
    if not p.expect(sts, "no StatefulSet rabbitmq"):
        p.done()
    c = main_container(sts)
    svc_name = sts.obj["spec"]["serviceName"]
    svc = m.get("Service", svc_name)
    p.expect(svc and svc["spec"].get("clusterIP") == "None", f"serviceName {svc_name} is not a headless Service")
    p.expect(svc and svc["spec"].get("publishNotReadyAddresses") is True,
             f"{svc_name} must publish not-ready addresses (peer discovery reads its endpoints)")
    src = env_sources(m, sts, c)
    nodename = src.get("RABBITMQ_NODENAME")
    if p.expect(nodename and nodename[0] == "literal", "RABBITMQ_NODENAME is not set"):
        value = nodename[1]
        for var, val in src.items():
            if val[0] == "field" and val[1] == "metadata.name":
                value = value.replace(f"$({var})", "<pod>")
            if val[0] == "field" and val[1] == "metadata.namespace":
                value = value.replace(f"$({var})", NAMESPACE)
            if val[0] == "literal":
                value = value.replace(f"$({var})", val[1])
        expected = f"rabbit@<pod>.{svc_name}.{NAMESPACE}.svc.cluster.local"
        p.expect(value == expected, f"RABBITMQ_NODENAME resolves to {value}, expected {expected}")
    p.expect(src.get("RABBITMQ_USE_LONGNAME", ("", ""))[1] == "true", "RABBITMQ_USE_LONGNAME must be true")
    conf = ""
    for vm in c.get("volumeMounts", []):
        vol = sts.volume(vm["name"])
        if vol and "configMap" in vol and vm["mountPath"].rstrip("/") == "/etc/rabbitmq":
            conf = (m.configmap_data(vol["configMap"]["name"]) or {}).get("rabbitmq.conf", "")
            plugins = (m.configmap_data(vol["configMap"]["name"]) or {}).get("enabled_plugins", "")
            for plugin in ("rabbitmq_peer_discovery_k8s", "rabbitmq_management", "rabbitmq_prometheus"):
                p.expect(plugin in plugins, f"enabled_plugins lacks {plugin}")
    settings = dict(re.findall(r"^\s*([a-z0-9_.]+)\s*=\s*(.+?)\s*$", conf, re.M))
    p.expect(settings.get("cluster_formation.peer_discovery_backend") in ("rabbit_peer_discovery_k8s", "k8s"),
             "peer discovery backend is not Kubernetes")
    p.expect(settings.get("cluster_formation.k8s.service_name") == svc_name,
             f"peer discovery reads Service {settings.get('cluster_formation.k8s.service_name')}, not {svc_name}")
    p.expect(settings.get("cluster_formation.k8s.address_type") == "hostname",
             "peer discovery must use address_type hostname (node names are DNS names, not IPs)")
    p.expect(settings.get("cluster_formation.k8s.hostname_suffix") == f".{svc_name}.{NAMESPACE}.svc.cluster.local",
             "hostname_suffix does not match the pods' DNS names")
    p.expect(settings.get("prometheus.tcp.port") == "15692", "prometheus plugin must listen on 15692")
    # RBAC for peer discovery and the shared Erlang cookie.
    sa = sts.spec.get("serviceAccountName")
    p.expect(sa and m.get("ServiceAccount", sa), "rabbitmq has no ServiceAccount")
    p.expect(rbac_allows(m, sa, "endpoints", "get"), f"ServiceAccount {sa} may not get endpoints")
    cookie = [v for v in sts.spec.get("volumes", []) if "secret" in v and any(
        i["key"] == "RABBITMQ_ERLANG_COOKIE" for i in v["secret"].get("items") or [])]
    p.expect(cookie, "the Erlang cookie is not taken from the Secret key RABBITMQ_ERLANG_COOKIE")
    p.expect(sts.obj["spec"].get("podManagementPolicy") == "Parallel",
             "podManagementPolicy must be Parallel (a restarted cluster waits for all its peers)")
    p.done()


@check("Grafana provisioning in the wrong folder")
def defect_grafana_provisioning_folders(m):
    p = Problems()
    g = m.workload("grafana", "Deployment")
    if not p.expect(g, "no Deployment grafana"):
        p.done()
    c = main_container(g)
    mounts = {vm["mountPath"].rstrip("/"): vm for vm in c.get("volumeMounts", [])}
    prov = {}
    for folder in ("datasources", "dashboards"):
        path = f"/etc/grafana/provisioning/{folder}"
        vm = mounts.get(path)
        if not p.expect(vm, f"nothing mounted at {path}"):
            continue
        vol = g.volume(vm["name"])
        data = m.configmap_data((vol or {}).get("configMap", {}).get("name", ""))
        if p.expect(data, f"{path} is not a ConfigMap"):
            for k, v in data.items():
                p.expect(k.endswith((".yml", ".yaml")), f"{path}/{k} is not a YAML provisioning file")
                prov[folder] = yaml.safe_load(v)
    ds = prov.get("datasources") or {}
    uids = {d.get("uid") for d in ds.get("datasources", [])}
    prom = [d for d in ds.get("datasources", []) if d.get("type") == "prometheus"]
    if p.expect(prom, "no Prometheus data source"):
        hp = url_host_port(prom[0]["url"])
        svc = hp and service_for_host(m, hp[0])
        p.expect(svc and any(sp["port"] == hp[1] for sp in svc["spec"]["ports"]) and
                 any(w.app == "prometheus" for w in m.pods_of_service(svc)),
                 f"Prometheus data source URL {prom[0]['url']} is not the Prometheus Service")
    dashboards_seen = []
    for provider in (prov.get("dashboards") or {}).get("providers", []):
        path = (provider.get("options") or {}).get("path", "").rstrip("/")
        vm = mounts.get(path)
        if not p.expect(vm, f"dashboard provider reads {path}, where nothing is mounted"):
            continue
        vol = g.volume(vm["name"])
        data = m.configmap_data((vol or {}).get("configMap", {}).get("name", "")) or {}
        for k, v in data.items():
            if k.endswith(".json"):
                dashboards_seen.append(json.loads(v))
    if p.expect(dashboards_seen, "no dashboard JSON reaches the dashboard provider's folder"):
        panels = [pl for d in dashboards_seen for pl in d.get("panels", [])]
        titles = " | ".join(pl.get("title", "").lower() for pl in panels)
        exprs = [t.get("expr", "") for pl in panels for t in pl.get("targets", [])]
        for want, needle in (("request rate", "http_requests_total"), ("p50", "histogram_quantile(0.5,"),
                             ("p95", "histogram_quantile(0.95,"), ("p99", "histogram_quantile(0.99,"),
                             ("error rate", 'status=~"5.."'), ("service health", "up{"),
                             ("memory", "process_resident_memory_bytes"), ("cpu", "process_cpu_seconds_total"),
                             ("circuit breaker", "circuit_breaker_state"), ("message", "messages_published_total"),
                             ("dead-letter", ".dlq")):
            p.expect(any(needle in e for e in exprs) and (want in titles or want.startswith("p")),
                     f"dashboard lacks a '{want}' panel (query with {needle})")
        for pl in panels:
            dsref = (pl.get("datasource") or {}).get("uid")
            p.expect(dsref in uids, f"panel {pl.get('title')!r} uses data source {dsref!r}, not provisioned")
            for t in pl.get("targets", []):
                for name in promql_metric_names(t.get("expr", "")):
                    p.expect(name in EMITTED_METRICS or any(fnmatch.fnmatch(name, pt) for pt in DASHBOARD_METRIC_PATTERNS),
                             f"panel {pl.get('title')!r} queries {name}, which nothing exports")
    env = env_sources(m, g, c)
    p.expect(env.get("GF_SECURITY_ADMIN_PASSWORD", ("",))[0] == "secret" and
             env["GF_SECURITY_ADMIN_PASSWORD"][2] == "GRAFANA_PASSWORD",
             "Grafana's admin password must come from the Secret key GRAFANA_PASSWORD")
    p.done()


@check("two Prometheus replicas on one ReadWriteOnce volume")
def defect_prometheus_single_writer(m):
    p = Problems()
    pvcs = {d["metadata"]["name"]: d for d in m.of_kind("PersistentVolumeClaim")}
    prom = [w for w in m.workloads if w.app == "prometheus"]
    p.expect(len(prom) == 1, f"expected one Prometheus workload, found {[w.name for w in prom]}")
    for w in m.workloads:
        if w.kind not in ("Deployment", "DaemonSet"):
            continue
        for v in w.spec.get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            pvc = pvcs.get(claim)
            if not p.expect(pvc, f"{w.name}: claims {claim}, which does not exist"):
                continue
            if "ReadWriteOnce" in pvc["spec"].get("accessModes", []) or "ReadWriteOncePod" in pvc["spec"].get("accessModes", []):
                p.expect(w.kind == "Deployment" and w.obj["spec"].get("replicas", 1) == 1,
                         f"{w.kind} {w.name}: more than one pod on ReadWriteOnce volume {claim}")
                p.expect((w.obj["spec"].get("strategy") or {}).get("type") == "Recreate",
                         f"{w.name}: a rolling update would run two pods on ReadWriteOnce volume {claim}; use Recreate")
                hpas = [h for h in m.of_kind("HorizontalPodAutoscaler")
                        if h["spec"]["scaleTargetRef"]["name"] == w.name]
                p.expect(not hpas, f"{w.name}: an HPA would scale a single-writer Deployment")
    p.done()


@check("no dead-letter queues: the broker ships a dead-letter exchange, queue and policy")
def defect_dead_letter_queues(m):
    p = Problems()
    jobs = [w for w in m.workloads if w.kind == "Job" and "rabbitmqadmin" in job_script(m, w)]
    if not p.expect(jobs, "no Job configures RabbitMQ (dead-letter exchange and policy)"):
        p.done()
    script = job_script(m, jobs[0])
    ex = re.search(r"declare exchange name=(\S+)", script)
    q = re.search(r"declare queue name=(\S+)", script)
    b = re.search(r"declare binding source=(\S+) destination=(\S+)", script)
    pol = re.search(r"declare policy .*?definition='(\{.*?\})'", script, re.S)
    if p.expect(ex and q and b and pol, "the setup Job must declare a DLX exchange, a DLQ, a binding and a policy"):
        p.expect(b.group(1) == ex.group(1) and b.group(2) == q.group(1), "the DLQ is not bound to the DLX")
        definition = json.loads(pol.group(1))
        p.expect(definition.get("dead-letter-exchange") == ex.group(1),
                 f"the policy sets dead-letter-exchange {definition.get('dead-letter-exchange')!r}, not {ex.group(1)}")
        p.expect("apply-to=queues" in script, "the dead-letter policy must apply to queues")
    p.expect("prometheus.return_per_object_metrics = true" in
             (m.configmap_data("rabbitmq-config") or {}).get("rabbitmq.conf", ""),
             "RabbitMQ must export per-queue metrics (DLQ depth)")
    p.done()


@check("tokens verified only by the user service: every service gets the JWT secret")
def defect_tokens_verified_by_every_service(m):
    p = Problems()
    for name, w in m.service_workloads().items():
        if not p.expect(w, f"no Deployment {name}"):
            continue
        src = env_sources(m, w, main_container(w))
        p.expect(src.get("JWT_SECRET") == ("secret", SECRET_NAME, "JWT_SECRET"),
                 f"{name}: JWT_SECRET must come from {SECRET_NAME}/JWT_SECRET")
        p.expect(env_value(m, w, main_container(w), "JWT_ALGORITHM") == "HS512", f"{name}: JWT_ALGORITHM must be HS512")
    p.done()


@check("error-rate alert using an absolute rate where the README says '> 10 %'")
def defect_error_rate_alert_is_ratio(m):
    p = Problems()
    rule = None
    for g in m.rules().get("groups", []):
        for r in g.get("rules", []):
            if r.get("alert") == "HighErrorRate":
                rule = r
    if not p.expect(rule, "no HighErrorRate rule"):
        p.done()
    expr = " ".join(rule["expr"].split())
    cmp_parts = split_top_level(expr, ">")
    if not p.expect(len(cmp_parts) == 2, "HighErrorRate must be `<ratio> > 0.1`"):
        p.done()
    ratio, threshold = cmp_parts
    p.expect(threshold.strip() == "0.1", f"threshold is {threshold.strip()}, expected 0.1 (10 %)")
    frac = split_top_level(strip_parens(ratio), "/")
    if not p.expect(len(frac) == 2, "HighErrorRate is not a ratio (no top-level division)"):
        p.done()
    num, den = frac
    num_sel = promql_selectors(num, "http_requests_total")
    den_sel = promql_selectors(den, "http_requests_total")
    p.expect(num_sel and all(re.search(r'status\s*=~\s*"5\.\."', s) for s in num_sel),
             "numerator must count http_requests_total with status=~\"5..\"")
    p.expect(den_sel and not any("status" in s for s in den_sel), "denominator must count all http_requests_total")
    p.expect("rate(" in num and "rate(" in den, "both sides must be rates over the same window")
    p.done()


# ========================================================================
#                          requirements (SPEC §7, seed)
# ========================================================================

@check("HPA per service: autoscaling/v2, min 2, max 10, CPU 70 %, memory 80 %, scale-up/down behaviour")
def req_hpa_policy(m):
    p = Problems()
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in m.of_kind("HorizontalPodAutoscaler")}
    for name in SERVICES:
        h = hpas.get(name)
        if not p.expect(h, f"no HPA for {name}"):
            continue
        s = h["spec"]
        p.expect(h["apiVersion"] == "autoscaling/v2", f"{name}: HPA must be autoscaling/v2")
        p.expect(s["scaleTargetRef"].get("kind") == "Deployment" and m.workload(name, "Deployment"),
                 f"{name}: HPA targets a missing Deployment")
        p.expect(s.get("minReplicas", 1) >= 2, f"{name}: minReplicas {s.get('minReplicas')} < 2")
        p.expect(s.get("maxReplicas") == 10, f"{name}: maxReplicas {s.get('maxReplicas')} != 10")
        targets = {mt["resource"]["name"]: mt["resource"]["target"] for mt in s.get("metrics", [])
                   if mt.get("type") == "Resource"}
        for res, val in (("cpu", 70), ("memory", 80)):
            t = targets.get(res) or {}
            p.expect(t.get("type") == "Utilization" and t.get("averageUtilization") == val,
                     f"{name}: {res} target must be {val} % utilization, is {t}")
        beh = s.get("behavior") or {}
        p.expect(beh.get("scaleUp", {}).get("policies") and beh.get("scaleDown", {}).get("policies"),
                 f"{name}: HPA needs scaleUp and scaleDown behaviour")
        w = m.workload(name, "Deployment")
        if w:
            res = main_container(w).get("resources", {}).get("requests", {})
            p.expect("cpu" in res and "memory" in res, f"{name}: utilization targets need cpu and memory requests")
    for name, h in hpas.items():
        p.expect(name in SERVICES, f"HPA for {name}, which is not one of the five services")
    p.done()


@check("every service Deployment: >= 2 replicas, pod anti-affinity, tolerations, PodDisruptionBudget")
def req_replicas_anti_affinity_pdb(m):
    p = Problems()
    pdbs = m.of_kind("PodDisruptionBudget")
    for name, w in m.service_workloads().items():
        if not p.expect(w, f"no Deployment {name}"):
            continue
        replicas = w.obj["spec"].get("replicas", 1)
        p.expect(replicas >= 2, f"{name}: replicas {replicas} < 2")
        aa = (w.spec.get("affinity") or {}).get("podAntiAffinity") or {}
        terms = [t.get("podAffinityTerm", t) for t in aa.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
        terms += aa.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        p.expect(any(t.get("topologyKey") == "kubernetes.io/hostname" and selector_matches(t.get("labelSelector"), w.labels)
                     for t in terms), f"{name}: no pod anti-affinity over kubernetes.io/hostname selecting its own pods")
        p.expect(w.spec.get("tolerations"), f"{name}: no tolerations")
        mine = [d for d in pdbs if selector_matches(d["spec"].get("selector"), w.labels)]
        if p.expect(mine, f"{name}: no PodDisruptionBudget"):
            s = mine[0]["spec"]
            if "minAvailable" in s:
                p.expect(isinstance(s["minAvailable"], int) and 1 <= s["minAvailable"] < replicas,
                         f"{name}: PDB minAvailable must let one pod of {replicas} be evicted")
        sel = w.obj["spec"]["selector"]
        p.expect(selector_matches(sel, w.labels), f"{name}: selector does not match its pod template")
    for d in pdbs:
        p.expect(any(selector_matches(d["spec"].get("selector"), w.labels) for w in m.workloads),
                 f"PDB {d['metadata']['name']} selects no pods")
    p.done()


@check("requests/limits in the seed's ranges (CPU 250m-1000m, memory 256Mi-2Gi, storage 5Gi-20Gi)")
def req_resources_in_seed_ranges(m):
    p = Problems()
    for w in m.workloads:
        for c in w.all_containers():
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for r, lo, hi in (("cpu", 0.25, 1.0), ("memory", 256 * 2 ** 20, 2 * 2 ** 30)):
                    v = (res.get(kind) or {}).get(r)
                    if p.expect(v is not None, f"{w.name}/{c['name']}: no {kind}.{r}"):
                        q = parse_quantity(v)
                        p.expect(lo <= q <= hi, f"{w.name}/{c['name']}: {kind}.{r}={v} outside the seed's range")
            for r in ("cpu", "memory"):
                req, lim = (res.get("requests") or {}).get(r), (res.get("limits") or {}).get(r)
                if req and lim:
                    p.expect(parse_quantity(req) <= parse_quantity(lim), f"{w.name}/{c['name']}: {r} request > limit")
    claims = [(d["metadata"]["name"], d["spec"]) for d in m.of_kind("PersistentVolumeClaim")]
    for w in m.workloads:
        for t in w.obj["spec"].get("volumeClaimTemplates") or []:
            claims.append((f"{w.name}/{t['metadata']['name']}", t["spec"]))
    p.expect(claims, "no persistent storage")
    for name, spec in claims:
        size = parse_quantity(spec["resources"]["requests"]["storage"])
        p.expect(5 * 2 ** 30 <= size <= 20 * 2 ** 30, f"{name}: storage {spec['resources']['requests']['storage']} outside 5Gi-20Gi")
    for name in ("postgres", "mongodb", "rabbitmq"):
        w = m.workload(name, "StatefulSet")
        p.expect(w and w.obj["spec"].get("volumeClaimTemplates"), f"{name}: StatefulSet with volumeClaimTemplates required")
    p.done()


@check("non-root, read-only root filesystem with an emptyDir /tmp, no privilege escalation")
def req_pod_security(m):
    p = Problems()
    dockerfile = m.read("Dockerfile")
    users = re.findall(r"^USER\s+(\d+)", dockerfile, re.M)
    p.expect(users and users[-1] != "0", "the Dockerfile's final USER must be a non-root uid")
    for w in m.workloads:
        pod_sc = w.spec.get("securityContext") or {}
        for c in w.all_containers():
            sc = c.get("securityContext") or {}
            root_ok = w.app in ROOT_ALLOWED
            non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            if not root_ok:
                p.expect(non_root is True and uid not in (0, None), f"{w.name}/{c['name']}: must run as a non-root uid")
            p.expect(sc.get("allowPrivilegeEscalation") is False, f"{w.name}/{c['name']}: allowPrivilegeEscalation must be false")
            p.expect("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), f"{w.name}/{c['name']}: must drop ALL capabilities")
            p.expect(not sc.get("privileged"), f"{w.name}/{c['name']}: privileged")
        p.expect((pod_sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
                 f"{w.name}: seccompProfile RuntimeDefault")
        if w.app in SERVICES:
            c = main_container(w)
            sc = c.get("securityContext") or {}
            p.expect(sc.get("readOnlyRootFilesystem") is True, f"{w.name}: readOnlyRootFilesystem must be true")
            tmp = [vm for vm in c.get("volumeMounts", []) if vm["mountPath"] == "/tmp"]
            p.expect(tmp and "emptyDir" in (w.volume(tmp[0]["name"]) or {}), f"{w.name}: needs an emptyDir at /tmp")
            p.expect(users and pod_sc.get("runAsUser") == int(users[-1]),
                     f"{w.name}: runAsUser {pod_sc.get('runAsUser')} differs from the image's USER {users}")
            p.expect(w.spec.get("automountServiceAccountToken") is False,
                     f"{w.name}: the services do not use the Kubernetes API; do not mount a token")
    p.done()


@check("probes on the documented health endpoints (liveness, readiness, startup)")
def req_probes_on_health_endpoints(m):
    p = Problems()
    for name, w in m.service_workloads().items():
        if not p.expect(w, f"no Deployment {name}"):
            continue
        c = main_container(w)
        want = HEALTH[SERVICES[name]["health"]]
        for kind, path in (("livenessProbe", want["liveness"]), ("readinessProbe", want["readiness"]),
                           ("startupProbe", want["startup"])):
            probe = (c.get(kind) or {}).get("httpGet") or {}
            p.expect(probe.get("path") == path, f"{name}: {kind} path {probe.get('path')!r}, expected {path}")
            p.expect(probe.get("port") == "http", f"{name}: {kind} must use the named port http")
    for w in m.workloads:
        if w.kind in ("Deployment", "StatefulSet") and w.app not in (None,):
            c = main_container(w)
            p.expect(c.get("readinessProbe") and c.get("livenessProbe"), f"{w.name}: needs liveness and readiness probes")
    p.done()


@check("Services select pods, target named ports that exist; the services' ports are named http")
def req_services_and_ports(m):
    p = Problems()
    for s in m.of_kind("Service"):
        name = s["metadata"]["name"]
        pods = m.pods_of_service(s)
        if not p.expect(pods, f"Service {name} selects no pods"):
            continue
        for sp in s["spec"]["ports"]:
            p.expect(sp.get("name"), f"Service {name}: port {sp['port']} has no name")
            tp = sp.get("targetPort", sp["port"])
            for w in pods:
                p.expect(w.resolve_port(tp, sp.get("protocol", "TCP")) is not None,
                         f"Service {name}: targetPort {tp!r} is not a port of {w.name}")
    for name, spec in SERVICES.items():
        w = m.workload(name, "Deployment")
        if not p.expect(w, f"no Deployment {name}"):
            continue
        p.expect([(x["name"], x["port"]) for x in w.ports()] == [("http", spec["port"])],
                 f"{name}: container port must be http:{spec['port']}, is {w.ports()}")
        svc = m.get("Service", name)
        if p.expect(svc, f"no Service {name}"):
            p.expect([sp.get("name") for sp in svc["spec"]["ports"]] == ["http"], f"Service {name}: port must be named http")
        if name != "gateway-service":
            hl = m.get("Service", f"{name}-headless")
            p.expect(hl and hl["spec"].get("clusterIP") == "None", f"no headless Service {name}-headless")
    p.done()


@check("each service gets the configuration it reads (SPEC §3 names), its command and the Downward API limits")
def req_service_environment(m):
    p = Problems()
    for name, spec in SERVICES.items():
        w = m.workload(name, "Deployment")
        if not p.expect(w, f"no Deployment {name}"):
            continue
        c = main_container(w)
        val = lambda k: env_value(m, w, c, k)  # noqa: E731
        src = env_sources(m, w, c)
        p.expect(c.get("image", "").split(":")[0].split("/")[-1] == IMAGE, f"{name}: image must be {IMAGE}")
        p.expect(c.get("args") == ["serve", spec["arg"]], f"{name}: args must be ['serve', '{spec['arg']}']")
        p.expect(val("SERVICE_NAME") == name, f"{name}: SERVICE_NAME is {val('SERVICE_NAME')!r}")
        p.expect(val("PORT") == str(spec["port"]), f"{name}: PORT is {val('PORT')!r}, container port {spec['port']}")
        p.expect(val("LOG_LEVEL"), f"{name}: no LOG_LEVEL")
        if spec["storage"]:
            p.expect(val("STORAGE") == spec["storage"], f"{name}: STORAGE is {val('STORAGE')!r}")
        if spec["storage"] == "mongodb":
            p.expect(val("MONGO_DB") == spec["db"], f"{name}: MONGO_DB is {val('MONGO_DB')!r}, expected {spec['db']}")
            p.expect(val("MONGO_URI"), f"{name}: no MONGO_URI")
        if spec["storage"] == "postgres":
            for k in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER"):
                p.expect(val(k), f"{name}: no {k}")
            p.expect(src.get("POSTGRES_PASSWORD", ("",))[0] == "secret", f"{name}: POSTGRES_PASSWORD from the Secret")
        if spec["bus"]:
            p.expect(val("EVENT_BUS") == "rabbitmq", f"{name}: EVENT_BUS must be rabbitmq")
            for k in ("RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_VHOST"):
                p.expect(val(k), f"{name}: no {k}")
            for k in ("RABBITMQ_USER", "RABBITMQ_PASS"):
                p.expect(src.get(k, ("",))[0] == "secret", f"{name}: {k} must come from the Secret")
            svc = service_for_host(m, val("RABBITMQ_HOST") or "")
            p.expect(svc and any(sp["port"] == int(val("RABBITMQ_PORT") or 0) for sp in svc["spec"]["ports"]),
                     f"{name}: RABBITMQ_HOST/PORT is not the rabbitmq Service")
        if name == "user-service":
            for k in ("ADMIN_USERNAME", "ADMIN_EMAIL", "JWT_EXPIRATION_HOURS"):
                p.expect(val(k), f"{name}: no {k}")
            p.expect(src.get("ADMIN_PASSWORD", ("",))[0] == "secret", f"{name}: ADMIN_PASSWORD from the Secret")
        if name.startswith("payment-service"):
            for k in ("PAYMENT_PROCESSING_MS", "PAYMENT_SUCCESS_RATE"):
                p.expect(val(k), f"{name}: no {k}")
        for k, res, div in (("MEMORY_LIMIT_BYTES", "limits.memory", "1"), ("CPU_LIMIT_MILLICORES", "limits.cpu", "1m")):
            s = src.get(k)
            ok = s and s[0] == "resource" and s[1].get("resource") == res and str(s[1].get("divisor", "1")) == div \
                and s[1].get("containerName", c["name"]) == c["name"]
            p.expect(ok, f"{name}: {k} must be resourceFieldRef {res} with divisor {div}")
    p.done()


@check("NetworkPolicies: default deny, and exactly the flows the system needs")
def req_network_policies(m):
    p = Problems()
    pols = m.of_kind("NetworkPolicy")
    p.expect(any(d["spec"].get("podSelector") == {} and set(d["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
                 and not d["spec"].get("ingress") and not d["spec"].get("egress") for d in pols),
             "no default-deny NetworkPolicy (podSelector {}, Ingress+Egress, no rules)")
    net = NetworkModel(m)
    app = lambda a: net.pod(m.by_app(a)[0]) if m.by_app(a) else None  # noqa: E731
    required = []
    for w in m.workloads:
        required.append((net.pod(w), net.DNS, 53, "UDP"))
    required += [(net.EXTERNAL, app("gateway-service"), 8080, "TCP"),
                 (net.INGRESS_CONTROLLER, app("gateway-service"), 8080, "TCP")]
    for name, spec in SERVICES.items():
        if name != "gateway-service":
            required.append((app("gateway-service"), app(name), spec["port"], "TCP"))
        if spec["storage"] == "postgres":
            required.append((app(name), app("postgres"), 5432, "TCP"))
        if spec["storage"] == "mongodb":
            required.append((app(name), app("mongodb"), 27017, "TCP"))
        if spec["bus"]:
            required.append((app(name), app("rabbitmq"), 5672, "TCP"))
    required += [
        (app("mongodb"), app("mongodb"), 27017, "TCP"), (app("mongodb-rs-init"), app("mongodb"), 27017, "TCP"),
        (app("rabbitmq"), app("rabbitmq"), 4369, "TCP"), (app("rabbitmq"), app("rabbitmq"), 25672, "TCP"),
        (app("rabbitmq"), net.API_SERVER, 443, "TCP"), (app("rabbitmq-setup"), app("rabbitmq"), 15672, "TCP"),
        (app("prometheus"), net.API_SERVER, 443, "TCP"), (app("prometheus"), app("alertmanager"), 9093, "TCP"),
        (app("grafana"), app("prometheus"), 9090, "TCP"), (app("grafana"), app("alertmanager"), 9093, "TCP"),
        (app("grafana"), app("elasticsearch"), 9200, "TCP"), (app("kibana"), app("elasticsearch"), 9200, "TCP"),
        (app("filebeat"), app("elasticsearch"), 9200, "TCP"), (app("filebeat"), net.API_SERVER, 443, "TCP"),
    ]
    for w in m.workloads:
        if w.annotations.get("prometheus.io/scrape") == "true":
            required.append((app("prometheus"), net.pod(w), int(w.annotations["prometheus.io/port"]), "TCP"))
    forbidden = [
        (net.EXTERNAL, app("user-service"), 8080, "TCP"), (net.EXTERNAL, app("postgres"), 5432, "TCP"),
        (net.EXTERNAL, app("rabbitmq"), 5672, "TCP"), (net.EXTERNAL, app("mongodb"), 27017, "TCP"),
        (app("review-service"), app("postgres"), 5432, "TCP"), (app("user-service"), app("mongodb"), 27017, "TCP"),
        (app("gateway-service"), app("postgres"), 5432, "TCP"), (app("gateway-service"), app("rabbitmq"), 5672, "TCP"),
        (app("user-service"), app("payment-service-java"), 8080, "TCP"),
        (app("kibana"), app("prometheus"), 9090, "TCP"), (app("user-service"), net.EXTERNAL, 443, "TCP"),
    ]
    for src, dst, port, proto in required:
        if not p.expect(src and dst, f"required flow names a missing workload: {src} -> {dst}"):
            continue
        ok, why = net.allowed(src, dst, port, proto)
        p.expect(ok, f"blocked: {src['name']} -> {dst['name']}:{port}/{proto} ({why})")
    for src, dst, port, proto in forbidden:
        if src and dst:
            ok, _ = net.allowed(src, dst, port, proto)
            p.expect(not ok, f"allowed but should not be: {src['name']} -> {dst['name']}:{port}/{proto}")
    p.done()


@check("ServiceAccounts and RBAC: Prometheus discovery, RabbitMQ peer discovery, Filebeat metadata")
def req_rbac(m):
    p = Problems()
    for w in m.workloads:
        sa = w.spec.get("serviceAccountName")
        if sa:
            p.expect(m.get("ServiceAccount", sa), f"{w.name}: ServiceAccount {sa} does not exist")
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for b in m.of_kind(kind):
            ref = b["roleRef"]
            p.expect(m.get(ref["kind"], ref["name"]), f"{kind} {b['metadata']['name']}: {ref['kind']} {ref['name']} missing")
            for s in b.get("subjects", []):
                if s["kind"] == "ServiceAccount":
                    p.expect(m.get("ServiceAccount", s["name"]) and s.get("namespace", NAMESPACE) == NAMESPACE,
                             f"{kind} {b['metadata']['name']}: ServiceAccount {s.get('namespace')}/{s['name']} missing")
    prom = m.workload("prometheus")
    if p.expect(prom, "no Prometheus"):
        sa = prom.spec.get("serviceAccountName")
        for res in ("pods", "endpoints", "services", "nodes", "nodes/proxy"):
            for verb in ("list", "watch") if res != "nodes/proxy" else ("get",):
                p.expect(rbac_allows(m, sa, res, verb, cluster=True), f"Prometheus may not {verb} {res} (ClusterRole)")
    fb = m.workload("filebeat", "DaemonSet")
    if p.expect(fb, "no Filebeat DaemonSet"):
        sa = fb.spec.get("serviceAccountName")
        for res in ("pods", "namespaces", "nodes"):
            p.expect(rbac_allows(m, sa, res, "watch", cluster=True), f"Filebeat may not watch {res}")
    p.done()


@check("Filebeat: DaemonSet with a container input that decodes the services' JSON log lines")
def req_filebeat_json_logs(m):
    p = Problems()
    fb = m.workload("filebeat", "DaemonSet")
    if not p.expect(fb, "no Filebeat DaemonSet"):
        p.done()
    c = main_container(fb)
    cfg_text = None
    for vm in c.get("volumeMounts", []):
        vol = fb.volume(vm["name"])
        if vol and "configMap" in vol:
            data = m.configmap_data(vol["configMap"]["name"]) or {}
            key = vm.get("subPath") or "filebeat.yml"
            if vm["mountPath"] in ("/etc/filebeat.yml", "/usr/share/filebeat/filebeat.yml") or key in data:
                cfg_text = data.get(key)
    if not p.expect(cfg_text, "Filebeat's configuration is not mounted"):
        p.done()
    cfg = yaml.safe_load(cfg_text)
    inputs = cfg.get("filebeat.inputs") or []
    cont = [i for i in inputs if i.get("type") == "container" or
            (i.get("type") == "filestream" and "container" in json.dumps(i.get("parsers", [])))]
    if p.expect(cont, "no container input"):
        i = cont[0]
        p.expect(any(f"_{NAMESPACE}_" in path for path in i.get("paths", [])),
                 f"the container input does not read the {NAMESPACE} namespace's logs")
        procs = i.get("processors", []) + (cfg.get("processors") or [])
        dec = [x["decode_json_fields"] for x in procs if "decode_json_fields" in x]
        if p.expect(dec, "no decode_json_fields processor"):
            d = dec[0]
            p.expect("message" in d.get("fields", []), "decode_json_fields must decode the message field")
            p.expect(d.get("target") == "" and d.get("overwrite_keys") is True,
                     "decoded keys (@timestamp, message) must replace the top-level ones (target '', overwrite_keys)")
            p.expect(d.get("expand_keys") is True,
                     "expand_keys must turn log.level, service.name, request.id, trace.id into ECS objects")
        p.expect(any("add_kubernetes_metadata" in x for x in procs), "no add_kubernetes_metadata")
    es = (cfg.get("output.elasticsearch") or {}).get("hosts", [])
    for h in es:
        hp = url_host_port(h if "://" in h else "http://" + h)
        p.expect(hp and service_for_host(m, hp[0]), f"Filebeat ships to {h}, which is not a Service")
    mounts = {vm["mountPath"] for vm in c.get("volumeMounts", [])}
    p.expect({"/var/log/containers", "/var/log/pods"} <= mounts, "Filebeat must mount /var/log/containers and /var/log/pods")
    kib = m.get("Service", "kibana-service")
    p.expect(kib, "no Service kibana-service (seed README: kubectl port-forward service/kibana-service 5601:5601)")
    p.done()


@check("seed README's access: Services prometheus-service:9090, grafana-service:3000, kibana-service:5601")
def req_seed_access_services(m):
    p = Problems()
    for name, port, app in (("prometheus-service", 9090, "prometheus"), ("grafana-service", 3000, "grafana"),
                            ("kibana-service", 5601, "kibana"), ("gateway-service", 80, "gateway-service")):
        s = m.get("Service", name)
        if p.expect(s, f"no Service {name}"):
            p.expect(any(sp["port"] == port for sp in s["spec"]["ports"]), f"Service {name} has no port {port}")
            p.expect(any(w.app == app for w in m.pods_of_service(s)), f"Service {name} does not select {app}")
    ns = m.get("Namespace", NAMESPACE)
    p.expect(ns, f"no Namespace {NAMESPACE}")
    for d in m.docs:
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            p.expect(d["metadata"].get("namespace") == NAMESPACE, f"{d['kind']} {d['metadata']['name']} outside {NAMESPACE}")
    p.done()


@check("one multi-stage Dockerfile builds the bookstore image; .dockerignore keeps build output out")
def req_dockerfile(m):
    p = Problems()
    df = m.read("Dockerfile")
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", df, re.M | re.I)
    p.expect(len(stages) >= 2, "the Dockerfile must be multi-stage")
    p.expect(re.search(r"^ARG SWIFT_IMAGE=swift:6\.3-bookworm", df, re.M) or "swift:6.3-bookworm" in df,
             "build stage must be swift:6.3-bookworm")
    p.expect(re.search(r"swift build -c release --product bookstore", df), "must build the bookstore product in release")
    p.expect("libmongoc-dev" in df and "librabbitmq-dev" in df, "build stage needs libmongoc-dev and librabbitmq-dev")
    for lib in ("libmongoc-1.0-0", "libbson-1.0-0", "librabbitmq4", "ca-certificates", "tzdata"):
        p.expect(lib in df, f"runtime stage lacks {lib}")
    p.expect(re.search(r'^ENTRYPOINT \["/app/bookstore"\]', df, re.M), 'ENTRYPOINT must be ["/app/bookstore"]')
    p.expect(re.search(r"^USER 10001", df, re.M), "runtime must run as uid 10001")
    ign = m.read(".dockerignore").split()
    for entry in (".build/", ".git/", "reports/", ".data/"):
        p.expect(entry in ign, f".dockerignore lacks {entry}")
    p.done()


# ------------------------------------------------------------- helpers (more)

def prometheus_configmap_name(m):
    prom = m.workload("prometheus")
    if prom is None:
        return ""
    for v in prom.spec.get("volumes", []):
        if "configMap" in v and "prometheus.yml" in (m.configmap_data(v["configMap"]["name"]) or {}):
            return v["configMap"]["name"]
    return ""


def job_script(m, w):
    """The text a Job runs: its command/args plus the ConfigMap scripts it mounts."""
    parts = []
    for c in w.containers:
        parts += [str(x) for x in (c.get("command") or []) + (c.get("args") or [])]
    for v in w.spec.get("volumes") or []:
        if "configMap" in v:
            data = m.configmap_data(v["configMap"]["name"]) or {}
            keys = [i["key"] for i in v["configMap"].get("items") or []] or list(data)
            cmd = " ".join(parts)
            for k in keys:
                if k in data and os.path.basename(k) in cmd:
                    parts.append(data[k])
    return "\n".join(parts)


def rbac_allows(m, sa, resource, verb, cluster=False):
    group = ""
    for kind, role_kind in (("RoleBinding", None), ("ClusterRoleBinding", "ClusterRole")):
        if cluster and kind == "RoleBinding":
            continue
        for b in m.of_kind(kind):
            if not any(s["kind"] == "ServiceAccount" and s["name"] == sa for s in b.get("subjects", [])):
                continue
            role = m.get(b["roleRef"]["kind"], b["roleRef"]["name"])
            for rule in (role or {}).get("rules", []):
                if group in rule.get("apiGroups", []) and (resource in rule.get("resources", []) or "*" in rule.get("resources", [])) \
                        and (verb in rule.get("verbs", []) or "*" in rule.get("verbs", [])):
                    return True
    return False


def ingress_backends_for(m, request_path):
    """Service names the Ingresses would send `request_path` to (longest match wins)."""
    best, best_len = set(), -1
    for ing in m.of_kind("Ingress"):
        for rule in ing["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                pth, typ = path.get("path", "/"), path.get("pathType", "Prefix")
                if typ == "Exact":
                    match = request_path == pth
                else:
                    base = pth.rstrip("/")
                    match = request_path == base or request_path.startswith(base + "/") or base == ""
                if match:
                    svc = path["backend"].get("service", {}).get("name")
                    if len(pth) > best_len:
                        best, best_len = {svc}, len(pth)
                    elif len(pth) == best_len:
                        best.add(svc)
        if best_len < 0 and ing["spec"].get("defaultBackend"):
            best = {ing["spec"]["defaultBackend"].get("service", {}).get("name")}
    return best


class NetworkModel:
    """Evaluates NetworkPolicies of the namespace for one connection."""

    EXTERNAL = dict(name="external-client", kind="ip", ip="203.0.113.10")
    API_SERVER = dict(name="kubernetes-api", kind="ip", ip="172.20.0.1")
    DNS = dict(name="kube-dns", kind="pod", namespace="kube-system", labels={"k8s-app": "kube-dns"},
               ports=[dict(name="dns", port=53, protocol="UDP"), dict(name="dns-tcp", port=53, protocol="TCP")])
    INGRESS_CONTROLLER = dict(name="ingress-nginx", kind="pod", namespace="ingress-nginx",
                              labels={"app.kubernetes.io/name": "ingress-nginx"}, ports=[])

    def __init__(self, m):
        self.m = m
        self.policies = m.of_kind("NetworkPolicy")
        ns = m.get("Namespace", NAMESPACE) or {"metadata": {}}
        self.ns_labels = {NAMESPACE: dict(ns["metadata"].get("labels") or {}, **{"kubernetes.io/metadata.name": NAMESPACE})}

    def pod(self, w):
        return dict(name=w.name, kind="pod", namespace=NAMESPACE, labels=w.labels, ports=w.ports())

    def _ns_labels(self, ns):
        return self.ns_labels.get(ns, {"kubernetes.io/metadata.name": ns})

    def _peer_matches(self, peer, ep, policy_ns):
        if "ipBlock" in peer:
            if ep["kind"] != "ip":
                return False
            ip = ipaddress.ip_address(ep["ip"])
            if ip not in ipaddress.ip_network(peer["ipBlock"]["cidr"]):
                return False
            return not any(ip in ipaddress.ip_network(x) for x in peer["ipBlock"].get("except", []))
        if ep["kind"] != "pod":
            return False
        if "namespaceSelector" in peer:
            if not selector_matches(peer["namespaceSelector"], self._ns_labels(ep["namespace"])):
                return False
        elif ep["namespace"] != policy_ns:
            return False
        if "podSelector" in peer:
            return selector_matches(peer["podSelector"], ep["labels"])
        return True

    @staticmethod
    def _port_matches(rule_ports, dst, port, proto):
        if not rule_ports:
            return True
        for rp in rule_ports:
            if rp.get("protocol", "TCP") != proto:
                continue
            if "port" not in rp:
                return True
            want = rp["port"]
            if isinstance(want, str):
                if any(x["name"] == want and x["port"] == port and x["protocol"] == proto for x in dst.get("ports", [])):
                    return True
            elif want <= port <= rp.get("endPort", want):
                return True
        return False

    def _side(self, ep, direction, other, port, proto, dst):
        if ep["kind"] != "pod" or ep["namespace"] != NAMESPACE:
            return True, ""
        selecting = []
        for pol in self.policies:
            spec = pol["spec"]
            types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
            if direction in types and selector_matches(spec.get("podSelector") or {}, ep["labels"]):
                selecting.append(pol)
        if not selecting:
            return True, ""
        key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for pol in selecting:
            for rule in pol["spec"].get(key) or []:
                peers = rule.get(peer_key)
                if peers and not any(self._peer_matches(pr, other, NAMESPACE) for pr in peers):
                    continue
                if self._port_matches(rule.get("ports"), dst, port, proto):
                    return True, ""
        return False, f"no {direction.lower()} rule of {[p_['metadata']['name'] for p_ in selecting]} allows it"

    def allowed(self, src, dst, port, proto="TCP"):
        ok, why = self._side(src, "Egress", dst, port, proto, dst)
        if not ok:
            return False, "egress: " + why
        ok, why = self._side(dst, "Ingress", src, port, proto, dst)
        if not ok:
            return False, "ingress: " + why
        return True, ""


# --------------------------------------------------------------------- runner

def run(rendered, root, only=None, junit=None):
    with open(rendered, encoding="utf-8") as f:
        docs = list(yaml.safe_load_all(f))
    m = Manifests(docs, root)
    results = []
    for name, defect, fn in CHECKS:
        if only and name not in only:
            continue
        t0 = time.monotonic()
        try:
            fn(m)
            results.append((name, defect, None, time.monotonic() - t0))
        except CheckFailure as e:
            results.append((name, defect, str(e), time.monotonic() - t0))
        except Exception:  # a crash is a failure too, with its traceback
            results.append((name, defect, "crashed:\n" + traceback.format_exc(), time.monotonic() - t0))
    failed = [r for r in results if r[2]]
    for name, defect, err, _ in results:
        print(f"{'PASS' if not err else 'FAIL'}  {name}  -- {defect}")
        if err:
            for line in err.splitlines():
                print(f"        {line}")
    print(f"k8s defect tests: {len(results) - len(failed)} passed, {len(failed)} failed")
    if junit:
        suite = ET.Element("testsuite", name="k8s-defects", tests=str(len(results)), failures=str(len(failed)),
                           time=f"{sum(r[3] for r in results):.3f}")
        for name, defect, err, dt in results:
            tc = ET.SubElement(suite, "testcase", classname="k8s.defects", name=name, time=f"{dt:.3f}")
            ET.SubElement(tc, "system-out").text = defect
            if err:
                ET.SubElement(tc, "failure", message=err.splitlines()[0]).text = err
        os.makedirs(os.path.dirname(os.path.abspath(junit)), exist_ok=True)
        ET.ElementTree(suite).write(junit, encoding="utf-8", xml_declaration=True)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rendered", help="output of `kubectl kustomize k8s`")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    ap.add_argument("--junit")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for name, defect, _ in CHECKS:
            print(f"{name}: {defect}")
        return 0
    if not args.rendered:
        ap.error("--rendered is required")
    return run(args.rendered, args.root, args.only, args.junit)


if __name__ == "__main__":
    sys.exit(main())
