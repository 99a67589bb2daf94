"""The rendered manifests as the checks see them, and the facts they are checked against.

`Manifests` wraps the objects `kubectl kustomize k8s` renders (what `kubectl apply -k k8s`
would send) plus read access to the files they are made from (Secret template, rule file,
Dockerfile). The conftest hands one to every check as the `k8s` fixture; the mutation tests
build one per mutated copy of the tree.

Only the standard library and PyYAML are used.
"""

import importlib.util
import os
import re
import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

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

# What the checks read besides the rendering: copied for each mutation.
SOURCES = ["k8s", "Dockerfile", ".dockerignore"]


# ------------------------------------------------------------------ loading

def render(k8s_dir, kubectl="kubectl"):
    """The objects `kubectl kustomize k8s_dir` renders."""
    try:
        out = subprocess.run([kubectl, "kustomize", str(k8s_dir)], capture_output=True, text=True)
    except FileNotFoundError as e:
        raise RuntimeError(f"{kubectl} not found (kubectl >= 1.21 is needed to render {k8s_dir})") from e
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {k8s_dir} failed: {out.stderr.strip()}")
    return list(yaml.safe_load_all(out.stdout))


def load_rendered(path):
    """The objects of a file written by `kubectl kustomize`."""
    with open(path, encoding="utf-8") as f:
        return list(yaml.safe_load_all(f))


def import_ci_module(name):
    """A helper module of ci/k8s/ (shared with the CI scripts), imported by path."""
    path = REPO_ROOT / "ci" / "k8s" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------- model

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


def main_container(workload):
    return workload.containers[0]


def url_host_port(url):
    mt = re.match(r"^(https?)://([^/:]+)(?::(\d+))?(/.*)?$", url.strip())
    if not mt:
        return None
    port = int(mt.group(3)) if mt.group(3) else (443 if mt.group(1) == "https" else 80)
    return mt.group(2), port


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

    def __repr__(self):
        return f"<{self.kind} {self.name}>"

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
    """The rendered objects, selected by kind/name/app, and the source files under `root`."""

    def __init__(self, docs, root):
        self.docs = [d for d in docs if isinstance(d, dict) and d.get("kind")]
        self.root = root
        self.workloads = [Workload(d) for d in self.docs
                          if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]

    # ---- selection

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

    def service_workloads(self):
        return {name: self.workload(name, "Deployment") for name in SERVICES}

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

    def service_for_host(self, host):
        """A Service named by an in-cluster DNS name (short or FQDN)."""
        parts = host.split(".")
        name = parts[0]
        if len(parts) > 1 and parts[1] != NAMESPACE:
            return None
        return self.get("Service", name)

    # ---- source files

    def read(self, rel):
        with open(os.path.join(self.root, rel), encoding="utf-8") as f:
            return f.read()

    def secret_template(self):
        """The Secret of k8s/secrets.yml and the set of its keys."""
        docs = [d for d in yaml.safe_load_all(self.read(SECRET_TEMPLATE)) if d]
        secrets = [d for d in docs if d.get("kind") == "Secret" and d["metadata"]["name"] == SECRET_NAME]
        assert len(secrets) == 1, f"{SECRET_TEMPLATE} must contain exactly one Secret {SECRET_NAME}, has {len(secrets)}"
        s = secrets[0]
        return s, set((s.get("stringData") or {}).keys()) | set((s.get("data") or {}).keys())

    def rules(self):
        return yaml.safe_load(self.read(RULES_FILE))

    # ---- environment

    def env_sources(self, workload, container):
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

    def env_value(self, workload, container, name):
        """The value an env var gets, resolving ConfigMaps and $(VAR) (None if unknown/secret)."""
        src = self.env_sources(workload, container).get(name)
        if src is None:
            return None
        if src[0] == "literal":
            def sub(mt):
                v = self.env_value(workload, container, mt.group(1))
                return v if v is not None else mt.group(0)
            return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, src[1])
        if src[0] == "configmap":
            data = self.configmap_data(src[1]) or {}
            return data.get(src[2])
        return None

    # ---- monitoring, jobs, RBAC, Ingress

    def prometheus_configmap_name(self):
        prom = self.workload("prometheus")
        if prom is None:
            return ""
        for v in prom.spec.get("volumes", []):
            if "configMap" in v and "prometheus.yml" in (self.configmap_data(v["configMap"]["name"]) or {}):
                return v["configMap"]["name"]
        return ""

    def job_script(self, w):
        """The text a Job runs: its command/args plus the ConfigMap scripts it mounts."""
        parts = []
        for c in w.containers:
            parts += [str(x) for x in (c.get("command") or []) + (c.get("args") or [])]
        for v in w.spec.get("volumes") or []:
            if "configMap" in v:
                data = self.configmap_data(v["configMap"]["name"]) or {}
                keys = [i["key"] for i in v["configMap"].get("items") or []] or list(data)
                cmd = " ".join(parts)
                for k in keys:
                    if k in data and os.path.basename(k) in cmd:
                        parts.append(data[k])
        return "\n".join(parts)

    def rbac_allows(self, sa, resource, verb, cluster=False):
        group = ""
        for kind in ("RoleBinding", "ClusterRoleBinding"):
            if cluster and kind == "RoleBinding":
                continue
            for b in self.of_kind(kind):
                if not any(s["kind"] == "ServiceAccount" and s["name"] == sa for s in b.get("subjects", [])):
                    continue
                role = self.get(b["roleRef"]["kind"], b["roleRef"]["name"])
                for rule in (role or {}).get("rules", []):
                    if group in rule.get("apiGroups", []) \
                            and (resource in rule.get("resources", []) or "*" in rule.get("resources", [])) \
                            and (verb in rule.get("verbs", []) or "*" in rule.get("verbs", [])):
                        return True
        return False

    def ingress_backends_for(self, request_path):
        """Service names the Ingresses would send `request_path` to (longest match wins)."""
        best, best_len = set(), -1
        for ing in self.of_kind("Ingress"):
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
