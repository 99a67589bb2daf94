#!/usr/bin/env python3
"""Prove that every defect test can fail (run by ci/validate-k8s).

For each test in checks.py there is at least one mutation that puts the
original defect (or the broken requirement) back into a *copy* of k8s/,
Dockerfile and .dockerignore in a temporary folder; the copy is rendered with
`kubectl kustomize` and the test must fail on it. The unmutated copy must
pass every test. Rule mutations are also run through `promtool test rules`,
which must fail too. The working tree is never modified.

usage: mutations.py [--root DIR] [--kubectl kubectl] [--promtool promtool] [--junit FILE]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks  # noqa: E402


def sub(old, new, first=False):
    """Replace `old` by `new`: it must occur exactly once (or, with first=True, at least once)."""
    def f(text):
        n = text.count(old)
        if n == 0 or (n > 1 and not first):
            raise ValueError(f"mutation target {old!r} found {n} times")
        return text.replace(old, new, 1)
    return f


def resub(pattern, repl, flags=re.S):
    def f(text):
        new, n = re.subn(pattern, repl, text, count=1, flags=flags)
        if n != 1:
            raise ValueError(f"mutation pattern {pattern!r} did not match")
        return new
    return f


def move_mongo_uri_first(text):
    """The original defect: MONGO_URI built from $(MONGO_*) defined later."""
    block = re.search(r"( {12}- name: MONGO_URI\n {14}value: \"[^\"]*\"\n)", text)
    if not block:
        raise ValueError("MONGO_URI block not found")
    text = text.replace(block.group(1), "", 1)
    return text.replace("          env:\n", "          env:\n" + block.group(1), 1)


# (test that must fail, file, mutation, description, also run promtool test rules)
MUTATIONS = [
    ("defect_gateway_routes_applied", "k8s/gateway-deployment.yml",
     sub("- name: REVIEW_SERVICE_URL", "- name: REVIEW_ROUTE_UNUSED"), "gateway without the reviews upstream", False),
    ("defect_gateway_routes_applied", "k8s/configmap.yml",
     sub('"http://user-service-headless:8080"', '"http://user-service:8080"'),
     "upstream through a ClusterIP (no per-replica balancing)", False),
    ("defect_auth_route_reaches_users", "k8s/ingress.yml",
     sub("- path: /api\n", "- path: /api/users\n"), "Ingress without /api/auth", False),
    ("defect_authorization_header_preserved", "k8s/ingress.yml",
     sub('    nginx.ingress.kubernetes.io/proxy-body-size: "1m"\n',
         '    nginx.ingress.kubernetes.io/proxy-body-size: "1m"\n'
         '    nginx.ingress.kubernetes.io/configuration-snippet: |\n'
         '      proxy_set_header Authorization "";\n'),
     "Ingress strips Authorization", False),
    ("defect_ingress_targets_gateway_only", "k8s/ingress.yml",
     sub("name: gateway-service\n                port", "name: bookstore-gateway\n                port"),
     "Ingress names a Service that does not exist", False),
    ("defect_ingress_targets_gateway_only", "k8s/ingress.yml",
     sub("          - path: /api\n",
         "          - path: /api/reviews\n            pathType: Prefix\n            backend:\n"
         "              service:\n                name: review-service\n                port:\n"
         "                  name: http\n          - path: /api\n"),
     "Ingress routes /api/reviews around the gateway", False),
    ("defect_no_eureka", "k8s/configmap.yml",
     sub('  LOG_LEVEL: "info"\n', '  LOG_LEVEL: "info"\n  EUREKA_SERVER_URL: "http://eureka-server:8761/eureka"\n'),
     "Eureka URL in the ConfigMap", False),
    ("defect_scrape_and_probe_targets_exist", "k8s/payment-deployment.yml",
     sub('prometheus.io/path: "/metrics"', 'prometheus.io/path: "/actuator/prometheus"'),
     "scrape path the python flavour does not serve", False),
    ("defect_scrape_and_probe_targets_exist", "k8s/review-deployment.yml",
     sub('prometheus.io/port: "5002"', 'prometheus.io/port: "8080"'), "scrape port that does not exist", False),
    ("defect_scrape_and_probe_targets_exist", "k8s/monitoring/prometheus.yml",
     sub('targets: ["alertmanager-service:9093"]', 'targets: ["alertmanager:9093"]'),
     "Alertmanager address that is no Service", False),
    ("defect_alert_rules_use_emitted_metrics", "k8s/monitoring/rules/bookstore-rules.yml",
     sub("              process_resident_memory_bytes\n", "              container_memory_usage_bytes\n"),
     "memory alert over a cAdvisor metric", True),
    ("defect_alert_rules_use_emitted_metrics", "k8s/monitoring/rules/bookstore-rules.yml",
     sub("        for: 1m\n", "        for: 5m\n"), "ServiceDown waits 5m instead of 1m", True),
    ("defect_secret_template_has_every_key", "k8s/secrets.yml",
     sub('  GRAFANA_PASSWORD: "REPLACE_ME"\n', ""), "Secret template without GRAFANA_PASSWORD", False),
    ("defect_secret_template_has_every_key", "k8s/secrets.yml",
     sub('  RABBITMQ_ERLANG_COOKIE: "REPLACE_ME"\n', ""), "Secret template without RABBITMQ_ERLANG_COOKIE", False),
    ("defect_secret_template_has_every_key", "k8s/kustomization.yaml",
     sub("  - configmap.yml\n", "  - configmap.yml\n  - secrets.yml\n"), "placeholder Secret applied by kustomize", False),
    ("defect_env_references_defined_earlier", "k8s/review-deployment.yml", move_mongo_uri_first,
     "MONGO_URI before MONGO_USER/MONGO_PASSWORD", False),
    ("defect_databases_created", "k8s/postgres-statefulset.yml",
     sub("SELECT 'CREATE DATABASE payment_db'", "SELECT 'CREATE DATABASE payments'"), "payment_db never created", False),
    ("defect_mongo_replica_set_initiated", "k8s/mongodb-statefulset.yml",
     sub("rs.initiate({", "rs.reconfig({"), "replica set never initiated", False),
    ("defect_mongo_replica_set_initiated", "k8s/mongodb-statefulset.yml",
     sub('value: "3"', 'value: "1"'), "only one member initiated", False),
    ("defect_rabbitmq_node_names_match_pods", "k8s/rabbitmq-statefulset.yml",
     sub("value: rabbit@$(MY_POD_NAME).$(K8S_SERVICE_NAME).$(MY_POD_NAMESPACE).svc.cluster.local",
         "value: rabbit@$(MY_POD_NAME)"), "short node names", False),
    ("defect_rabbitmq_node_names_match_pods", "k8s/rabbitmq-statefulset.yml",
     sub("hostname_suffix = .rabbitmq-headless.bookstore", "hostname_suffix = .rabbitmq.bookstore"),
     "peer discovery suffix of another Service", False),
    ("defect_grafana_provisioning_folders", "k8s/monitoring/grafana-deployment.yml",
     sub("mountPath: /etc/grafana/provisioning/datasources", "mountPath: /etc/grafana/datasources"),
     "datasources outside the provisioning folder", False),
    ("defect_grafana_provisioning_folders", "k8s/monitoring/grafana-deployment.yml",
     sub("          path: /var/lib/grafana-dashboards/bookstore\n", "          path: /var/lib/grafana/dashboards\n"),
     "dashboard provider reads an empty folder", False),
    ("defect_prometheus_single_writer", "k8s/monitoring/prometheus-deployment.yml",
     sub("  replicas: 1\n  strategy:\n    type: Recreate", "  replicas: 2\n  strategy:\n    type: Recreate"),
     "two Prometheus replicas on one RWO volume", False),
    ("defect_prometheus_single_writer", "k8s/monitoring/prometheus-deployment.yml",
     sub("  strategy:\n    type: Recreate\n", ""), "rolling update (two pods) on an RWO volume", False),
    ("defect_dead_letter_queues", "k8s/rabbitmq-statefulset.yml",
     sub("definition='{\"dead-letter-exchange\":\"bookstore.dlx\"}'", "definition='{\"message-ttl\":60000}'"),
     "policy without a dead-letter exchange", False),
    ("defect_tokens_verified_by_every_service", "k8s/review-deployment.yml",
     sub("- name: JWT_SECRET\n", "- name: JWT_SECRET_UNUSED\n"), "review service cannot verify tokens", False),
    ("defect_error_rate_alert_is_ratio", "k8s/monitoring/rules/bookstore-rules.yml",
     resub(r"(- alert: HighErrorRate\n.*?expr: \|\n).*?(\n        for:)",
           r'\1          sum by (job, service) (rate(http_requests_total{status=~"5.."}[5m])) > 0.1\2'),
     "absolute 5xx rate instead of a ratio", True),
    ("req_hpa_policy", "k8s/user-deployment.yml", sub("  minReplicas: 2\n", "  minReplicas: 1\n"), "HPA min 1", False),
    ("req_hpa_policy", "k8s/payment-deployment.yml", sub("averageUtilization: 80", "averageUtilization: 90"),
     "memory target 90 %", False),
    ("req_replicas_anti_affinity_pdb", "k8s/review-deployment.yml",
     sub("  replicas: 2\n", "  replicas: 1\n"), "one replica", False),
    ("req_replicas_anti_affinity_pdb", "k8s/user-deployment.yml",
     sub("topologyKey: kubernetes.io/hostname", "topologyKey: topology.kubernetes.io/zone"),
     "no per-node anti-affinity", False),
    ("req_resources_in_seed_ranges", "k8s/gateway-deployment.yml",
     sub("              memory: 512Mi\n", "              memory: 4Gi\n"), "memory limit 4Gi", False),
    ("req_resources_in_seed_ranges", "k8s/postgres-statefulset.yml",
     sub("storage: 10Gi", "storage: 50Gi"), "50Gi volume", False),
    ("req_pod_security", "k8s/user-deployment.yml",
     sub("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"), "writable root filesystem", False),
    ("req_pod_security", "Dockerfile", sub("USER 10001:10001", "USER 0"), "image runs as root", False),
    ("req_probes_on_health_endpoints", "k8s/review-deployment.yml",
     sub("path: /api/health/ready", "path: /health"), "readiness on a path the service lacks", False),
    ("req_services_and_ports", "k8s/payment-java-deployment.yml",
     sub("      targetPort: http\n", "      targetPort: web\n", first=True), "Service targets a missing port", False),
    ("req_service_environment", "k8s/review-deployment.yml",
     sub('value: "review_db"', 'value: "reviews"'), "wrong Mongo database", False),
    ("req_service_environment", "k8s/user-deployment.yml",
     sub("divisor: 1m", "divisor: 1"), "CPU limit in cores instead of millicores", False),
    ("req_network_policies", "k8s/network-policies.yml",
     sub('        values: ["user-service", "payment-service-java"]\n      ports:\n        - protocol: TCP\n          port: 5432',
         '        values: ["user-service"]\n      ports:\n        - protocol: TCP\n          port: 5432'),
     "payments-java cannot reach PostgreSQL", False),
    ("req_network_policies", "k8s/network-policies.yml",
     sub("  podSelector: {}\n  policyTypes: [\"Ingress\", \"Egress\"]\n", "  podSelector: {}\n  policyTypes: [\"Ingress\"]\n"),
     "no default deny for egress", False),
    ("req_rbac", "k8s/monitoring/prometheus-deployment.yml",
     sub('"services", "endpoints", "pods"]', '"services", "endpoints"]'), "Prometheus cannot list pods", False),
    ("req_filebeat_json_logs", "k8s/monitoring/elasticsearch-deployment.yml",
     sub("expand_keys: true", "expand_keys: false"), "dotted keys stay flat", False),
    ("req_seed_access_services", "k8s/monitoring/elasticsearch-deployment.yml",
     sub("  name: kibana-service\n", "  name: kibana\n"), "kibana-service missing", False),
    ("req_dockerfile", ".dockerignore", sub(".build/\n", ""), ".build in the build context", False),
]

COPY = ["k8s", "Dockerfile", ".dockerignore"]


def render(kubectl, root):
    out = subprocess.run([kubectl, "kustomize", os.path.join(root, "k8s")], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize failed: {out.stderr.strip()}")
    return list(yaml.safe_load_all(out.stdout))


def failures(docs, root, only=None):
    m = checks.Manifests(docs, root)
    failed = {}
    for name, _, fn in checks.CHECKS:
        if only and name != only:
            continue
        try:
            fn(m)
        except checks.CheckFailure as e:
            failed[name] = str(e)
        except Exception as e:  # noqa: BLE001 - a crash is not a detection
            failed[name] = f"CRASH {type(e).__name__}: {e}"
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    ap.add_argument("--kubectl", default="kubectl")
    ap.add_argument("--promtool", default="promtool")
    ap.add_argument("--junit")
    args = ap.parse_args()

    results = []  # (name, ok, message, seconds)
    with tempfile.TemporaryDirectory(prefix="k8s-mutations-") as tmp:
        base = os.path.join(tmp, "base")
        os.makedirs(base)
        for item in COPY:
            src = os.path.join(args.root, item)
            (shutil.copytree if os.path.isdir(src) else shutil.copyfile)(src, os.path.join(base, item))
        t0 = time.monotonic()
        baseline = failures(render(args.kubectl, base), base)
        results.append(("baseline passes every test", not baseline,
                        "" if not baseline else f"unmutated manifests fail: {sorted(baseline)}", time.monotonic() - t0))
        covered = set()
        for i, (test, rel, mutate, what, rules) in enumerate(MUTATIONS):
            t0 = time.monotonic()
            label = f"{test} catches: {what}"
            work = os.path.join(tmp, f"m{i}")
            shutil.copytree(base, work)
            path = os.path.join(work, rel)
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                with open(path, "w", encoding="utf-8") as f:
                    f.write(mutate(text))
                failed = failures(render(args.kubectl, work), work, only=test)
                ok = test in failed and not failed[test].startswith("CRASH")
                msg = "" if ok else (f"{test} crashed: {failed[test]}" if test in failed else f"{test} passed on the mutant")
                if ok and rules:
                    tests = os.path.join(work, "k8s/monitoring/rules/tests")
                    files = sorted(os.path.join(tests, f) for f in os.listdir(tests) if f.endswith(".yml"))
                    pt = subprocess.run([args.promtool, "test", "rules", *files], capture_output=True, text=True)
                    if pt.returncode == 0:
                        ok, msg = False, "promtool test rules passed on the mutant"
                    else:
                        label += " (and promtool test rules)"
                if ok:
                    covered.add(test)
            except Exception as e:  # noqa: BLE001
                ok, msg = False, f"mutation could not be applied: {e}"
            finally:
                shutil.rmtree(work, ignore_errors=True)
            results.append((label, ok, msg, time.monotonic() - t0))
        uncovered = [n for n, _, _ in checks.CHECKS if n not in covered]
        results.append(("every test has a mutation that makes it fail", not uncovered,
                        f"no failing mutation for {uncovered}" if uncovered else "", 0.0))

    bad = [r for r in results if not r[1]]
    for name, ok, msg, _ in results:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
        if msg:
            print(f"        {msg}")
    print(f"k8s mutation tests: {len(results) - len(bad)} passed, {len(bad)} failed")
    if args.junit:
        suite = ET.Element("testsuite", name="k8s-mutations", tests=str(len(results)), failures=str(len(bad)),
                           time=f"{sum(r[3] for r in results):.3f}")
        for name, ok, msg, dt in results:
            tc = ET.SubElement(suite, "testcase", classname="k8s.mutations", name=name, time=f"{dt:.3f}")
            if not ok:
                ET.SubElement(tc, "failure", message=msg).text = msg
        os.makedirs(os.path.dirname(os.path.abspath(args.junit)), exist_ok=True)
        ET.ElementTree(suite).write(args.junit, encoding="utf-8", xml_declaration=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
