"""Proves that every check can fail.

For each check there is at least one mutation that puts the original defect (or the broken
requirement) back into a copy of k8s/, Dockerfile and .dockerignore under tmp_path; the copy
is rendered with `kubectl kustomize` (once per mutation) and the check must fail on it with
an assertion, not a crash. The unmutated copy must pass every check. Rule mutations must
also make `promtool test rules` fail. The work tree is never modified.

    python3 -m pytest k8s/tests -m mutations
"""

import inspect
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable, NamedTuple

import pytest

from . import test_defects, test_network, test_promql, test_requirements
from .manifests import SOURCES, Manifests, render

pytestmark = pytest.mark.mutations

CHECK_MODULES = (test_defects, test_promql, test_network, test_requirements)
# check id (the test name without "test_") -> test function
CHECKS = {name[len("test_"):]: fn
          for module in CHECK_MODULES
          for name, fn in vars(module).items()
          if name.startswith("test_") and inspect.isfunction(fn) and fn.__module__ == module.__name__}


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


class Mutation(NamedTuple):
    check: str                    # id of the check that must fail
    file: str                     # file to mutate, relative to the repository root
    mutate: Callable[[str], str]  # old text -> mutated text
    what: str                     # the defect planted
    promtool: bool = False        # `promtool test rules` must fail too


MUTATIONS = [
    Mutation("req_outbox_fits_its_volume", "k8s/review-deployment.yml",
             sub("        - name: outbox\n          emptyDir:\n            sizeLimit: 128Mi\n",
                 "        - name: outbox\n          emptyDir:\n            sizeLimit: 64Mi\n"),
             "outbox volume smaller than the outbox's byte limit"),
    Mutation("req_outbox_fits_its_volume", "k8s/configmap.yml",
             sub('  RABBITMQ_OUTBOX_MAX_BYTES: "100663296"\n', ''), "no byte limit on the outbox (default 256 MiB)"),
    Mutation("req_outbox_fits_its_volume", "k8s/user-deployment.yml",
             sub("            - name: outbox\n              mountPath: /var/lib/bookstore/outbox\n", ""),
             "outbox on the read-only root filesystem"),
    Mutation("req_postgres_connections_fit", "k8s/configmap.yml",
             sub('  POSTGRES_POOL_SIZE: "5"\n', '  POSTGRES_POOL_SIZE: "20"\n'),
             "pools of 20 per replica (400 connections at full scale-out)"),
    Mutation("req_postgres_connections_fit", "k8s/postgres-statefulset.yml",
             sub('          args: ["-c", "max_connections=150"]\n', ''), "PostgreSQL's default max_connections of 100"),
    Mutation("req_postgres_connections_fit", "k8s/user-deployment.yml",
             sub("            - name: POSTGRES_POOL_SIZE\n              valueFrom:\n                configMapKeyRef:\n"
                 "                  name: bookstore-config\n                  key: POSTGRES_POOL_SIZE\n", ""),
             "the users pool at the service's default of 20"),
    Mutation("defect_gateway_routes_applied", "k8s/gateway-deployment.yml",
             sub("- name: REVIEW_SERVICE_URL", "- name: REVIEW_ROUTE_UNUSED"), "gateway without the reviews upstream"),
    Mutation("defect_gateway_routes_applied", "k8s/configmap.yml",
             sub('"http://user-service-headless:8080"', '"http://user-service:8080"'),
             "upstream through a ClusterIP (no per-replica balancing)"),
    Mutation("defect_auth_route_reaches_users", "k8s/ingress.yml",
             sub("- path: /api\n", "- path: /api/users\n"), "Ingress without /api/auth"),
    Mutation("defect_authorization_header_preserved", "k8s/ingress.yml",
             sub('    nginx.ingress.kubernetes.io/proxy-body-size: "1m"\n',
                 '    nginx.ingress.kubernetes.io/proxy-body-size: "1m"\n'
                 '    nginx.ingress.kubernetes.io/configuration-snippet: |\n'
                 '      proxy_set_header Authorization "";\n'),
             "Ingress strips Authorization"),
    Mutation("defect_ingress_targets_gateway_only", "k8s/ingress.yml",
             sub("name: gateway-service\n                port", "name: bookstore-gateway\n                port"),
             "Ingress names a Service that does not exist"),
    Mutation("defect_ingress_targets_gateway_only", "k8s/ingress.yml",
             sub("          - path: /api\n",
                 "          - path: /api/reviews\n            pathType: Prefix\n            backend:\n"
                 "              service:\n                name: review-service\n                port:\n"
                 "                  name: http\n          - path: /api\n"),
             "Ingress routes /api/reviews around the gateway"),
    Mutation("defect_no_eureka", "k8s/configmap.yml",
             sub('  LOG_LEVEL: "info"\n', '  LOG_LEVEL: "info"\n  EUREKA_SERVER_URL: "http://eureka-server:8761/eureka"\n'),
             "Eureka URL in the ConfigMap"),
    Mutation("defect_scrape_and_probe_targets_exist", "k8s/payment-deployment.yml",
             sub('prometheus.io/path: "/metrics"', 'prometheus.io/path: "/actuator/prometheus"'),
             "scrape path the python flavour does not serve"),
    Mutation("defect_scrape_and_probe_targets_exist", "k8s/review-deployment.yml",
             sub('prometheus.io/port: "5002"', 'prometheus.io/port: "8080"'), "scrape port that does not exist"),
    Mutation("defect_scrape_and_probe_targets_exist", "k8s/monitoring/prometheus.yml",
             sub('targets: ["alertmanager-service:9093"]', 'targets: ["alertmanager:9093"]'),
             "Alertmanager address that is no Service"),
    Mutation("defect_alert_rules_use_emitted_metrics", "k8s/monitoring/rules/bookstore-rules.yml",
             sub("              process_resident_memory_bytes\n", "              container_memory_usage_bytes\n"),
             "memory alert over a cAdvisor metric", promtool=True),
    Mutation("defect_alert_rules_use_emitted_metrics", "k8s/monitoring/rules/bookstore-rules.yml",
             sub("        for: 1m\n", "        for: 5m\n"), "ServiceDown waits 5m instead of 1m", promtool=True),
    Mutation("defect_secret_template_has_every_key", "k8s/secrets.yml",
             sub('  GRAFANA_PASSWORD: "REPLACE_ME"\n', ""), "Secret template without GRAFANA_PASSWORD"),
    Mutation("defect_secret_template_has_every_key", "k8s/secrets.yml",
             sub('  RABBITMQ_ERLANG_COOKIE: "REPLACE_ME"\n', ""), "Secret template without RABBITMQ_ERLANG_COOKIE"),
    Mutation("defect_secret_template_has_every_key", "k8s/kustomization.yaml",
             sub("  - configmap.yml\n", "  - configmap.yml\n  - secrets.yml\n"), "placeholder Secret applied by kustomize"),
    Mutation("defect_env_references_defined_earlier", "k8s/review-deployment.yml", move_mongo_uri_first,
             "MONGO_URI before MONGO_USER/MONGO_PASSWORD"),
    Mutation("defect_databases_created", "k8s/postgres-statefulset.yml",
             sub("SELECT 'CREATE DATABASE payment_db'", "SELECT 'CREATE DATABASE payments'"), "payment_db never created"),
    Mutation("defect_mongo_replica_set_initiated", "k8s/mongodb-statefulset.yml",
             sub("rs.initiate({", "rs.reconfig({"), "replica set never initiated"),
    Mutation("defect_mongo_replica_set_initiated", "k8s/mongodb-statefulset.yml",
             sub('value: "3"', 'value: "1"'), "only one member initiated"),
    Mutation("defect_rabbitmq_node_names_match_pods", "k8s/rabbitmq-statefulset.yml",
             sub("value: rabbit@$(MY_POD_NAME).$(K8S_SERVICE_NAME).$(MY_POD_NAMESPACE).svc.cluster.local",
                 "value: rabbit@$(MY_POD_NAME)"), "short node names"),
    Mutation("defect_rabbitmq_node_names_match_pods", "k8s/rabbitmq-statefulset.yml",
             sub("hostname_suffix = .rabbitmq-headless.bookstore", "hostname_suffix = .rabbitmq.bookstore"),
             "peer discovery suffix of another Service"),
    Mutation("defect_grafana_provisioning_folders", "k8s/monitoring/grafana-deployment.yml",
             sub("mountPath: /etc/grafana/provisioning/datasources", "mountPath: /etc/grafana/datasources"),
             "datasources outside the provisioning folder"),
    Mutation("defect_grafana_provisioning_folders", "k8s/monitoring/grafana-deployment.yml",
             sub("          path: /var/lib/grafana-dashboards/bookstore\n", "          path: /var/lib/grafana/dashboards\n"),
             "dashboard provider reads an empty folder"),
    Mutation("defect_prometheus_single_writer", "k8s/monitoring/prometheus-deployment.yml",
             sub("  replicas: 1\n  strategy:\n    type: Recreate", "  replicas: 2\n  strategy:\n    type: Recreate"),
             "two Prometheus replicas on one RWO volume"),
    Mutation("defect_prometheus_single_writer", "k8s/monitoring/prometheus-deployment.yml",
             sub("  strategy:\n    type: Recreate\n", ""), "rolling update (two pods) on an RWO volume"),
    Mutation("defect_dead_letter_queues", "k8s/rabbitmq-statefulset.yml",
             sub("definition='{\"dead-letter-exchange\":\"bookstore.dlx\"}'", "definition='{\"message-ttl\":60000}'"),
             "policy without a dead-letter exchange"),
    Mutation("defect_tokens_verified_by_every_service", "k8s/review-deployment.yml",
             sub("- name: JWT_SECRET\n", "- name: JWT_SECRET_UNUSED\n"), "review service cannot verify tokens"),
    Mutation("defect_error_rate_alert_is_ratio", "k8s/monitoring/rules/bookstore-rules.yml",
             resub(r"(- alert: HighErrorRate\n.*?expr: \|\n).*?(\n        for:)",
                   r'\1          sum by (job, service) (rate(http_requests_total{status=~"5.."}[5m])) > 0.1\2'),
             "absolute 5xx rate instead of a ratio", promtool=True),
    Mutation("req_hpa_policy", "k8s/user-deployment.yml", sub("  minReplicas: 2\n", "  minReplicas: 1\n"), "HPA min 1"),
    Mutation("req_hpa_policy", "k8s/payment-deployment.yml", sub("averageUtilization: 80", "averageUtilization: 90"),
             "memory target 90 %"),
    Mutation("req_replicas_anti_affinity_pdb", "k8s/review-deployment.yml",
             sub("  replicas: 2\n", "  replicas: 1\n"), "one replica"),
    Mutation("req_replicas_anti_affinity_pdb", "k8s/user-deployment.yml",
             sub("topologyKey: kubernetes.io/hostname", "topologyKey: topology.kubernetes.io/zone"),
             "no per-node anti-affinity"),
    Mutation("req_resources_in_seed_ranges", "k8s/gateway-deployment.yml",
             sub("              memory: 512Mi\n", "              memory: 4Gi\n"), "memory limit 4Gi"),
    Mutation("req_resources_in_seed_ranges", "k8s/postgres-statefulset.yml",
             sub("storage: 10Gi", "storage: 50Gi"), "50Gi volume"),
    Mutation("req_pod_security", "k8s/user-deployment.yml",
             sub("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"), "writable root filesystem"),
    Mutation("req_pod_security", "Dockerfile", sub("USER 10001:10001", "USER 0"), "image runs as root"),
    Mutation("req_probes_on_health_endpoints", "k8s/review-deployment.yml",
             sub("path: /api/health/ready", "path: /health"), "readiness on a path the service lacks"),
    Mutation("req_services_and_ports", "k8s/payment-java-deployment.yml",
             sub("      targetPort: http\n", "      targetPort: web\n", first=True), "Service targets a missing port"),
    Mutation("req_service_environment", "k8s/review-deployment.yml",
             sub('value: "review_db"', 'value: "reviews"'), "wrong Mongo database"),
    Mutation("req_service_environment", "k8s/user-deployment.yml",
             sub("divisor: 1m", "divisor: 1"), "CPU limit in cores instead of millicores"),
    Mutation("req_service_environment", "k8s/configmap.yml",
             sub('TRUSTED_PROXIES: "10.0.0.0/8"', 'TRUSTED_PROXIES: ""'), "services trust no proxy"),
    Mutation("req_service_environment", "k8s/configmap.yml",
             sub('GATEWAY_TRUSTED_PROXIES: ""', 'GATEWAY_TRUSTED_PROXIES: "0.0.0.0/0"'), "the gateway trusts anyone"),
    Mutation("req_network_policies", "k8s/network-policies.yml",
             sub('        values: ["user-service", "payment-service-java"]\n      ports:\n        - protocol: TCP\n'
                 '          port: 5432',
                 '        values: ["user-service"]\n      ports:\n        - protocol: TCP\n          port: 5432'),
             "payments-java cannot reach PostgreSQL"),
    Mutation("req_network_policies", "k8s/network-policies.yml",
             sub("  podSelector: {}\n  policyTypes: [\"Ingress\", \"Egress\"]\n",
                 "  podSelector: {}\n  policyTypes: [\"Ingress\"]\n"),
             "no default deny for egress"),
    Mutation("req_rbac", "k8s/monitoring/prometheus-deployment.yml",
             sub('"services", "endpoints", "pods"]', '"services", "endpoints"]'), "Prometheus cannot list pods"),
    Mutation("req_filebeat_json_logs", "k8s/monitoring/elasticsearch-deployment.yml",
             sub("expand_keys: true", "expand_keys: false"), "dotted keys stay flat"),
    Mutation("req_seed_access_services", "k8s/monitoring/elasticsearch-deployment.yml",
             sub("  name: kibana-service\n", "  name: kibana\n"), "kibana-service missing"),
    Mutation("req_dockerfile", ".dockerignore", sub(".build/\n", ""), ".build in the build context"),
]


def mutation_id(mu):
    return f"{mu.check} catches: {mu.what}" + (" (and promtool test rules)" if mu.promtool else "")


def copy_sources(root, dest):
    """What the checks read (k8s/ without these tests, Dockerfile, .dockerignore), copied to dest."""
    tests_dir = (root / "k8s" / "tests").resolve()

    def ignore(folder, names):
        skip = {n for n in names if n in ("__pycache__", ".pytest_cache")}
        if Path(folder).resolve() == (root / "k8s").resolve():
            skip |= {n for n in names if (root / "k8s" / n).resolve() == tests_dir}
        return skip

    for item in SOURCES:
        src = root / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=ignore)
        else:
            shutil.copyfile(src, dest / item)


def run_check(check, k8s):
    """The check's assertion message, or None if it passed. A crash propagates: it is no detection."""
    try:
        check(k8s)
    except AssertionError as e:
        return str(e) or "AssertionError"
    return None


@pytest.fixture(scope="session")
def pristine(tmp_path_factory, repo_root):
    """An unmutated copy of the sources the checks read."""
    dest = tmp_path_factory.mktemp("pristine")
    copy_sources(repo_root, dest)
    return dest


def test_every_check_has_a_mutation():
    """Every check of the four check modules is the target of at least one mutation."""
    targeted = {mu.check for mu in MUTATIONS}
    assert len(CHECKS) >= 29, f"expected the 29 checks of test_defects/promql/network/requirements, found {len(CHECKS)}"
    assert not targeted - set(CHECKS), f"mutations name checks that do not exist: {sorted(targeted - set(CHECKS))}"
    assert not set(CHECKS) - targeted, f"checks without a mutation that makes them fail: {sorted(set(CHECKS) - targeted)}"


def test_unmutated_copy_passes_every_check(pristine, kubectl):
    """The copy the mutations start from passes every check (so a failure is the mutation's doing)."""
    k8s = Manifests(render(pristine / "k8s", kubectl), pristine)
    failed = {}
    for name, check in CHECKS.items():
        try:
            failure = run_check(check, k8s)
        except Exception as e:  # noqa: BLE001 - report every check, crashes included
            failure = f"crashed: {type(e).__name__}: {e}"
        if failure:
            failed[name] = failure
    assert not failed, "the unmutated copy fails:\n" + "\n".join(f"{n}: {msg}" for n, msg in failed.items())


@pytest.mark.parametrize("mutation", MUTATIONS, ids=mutation_id)
def test_check_fails_on_mutant(mutation, pristine, tmp_path, kubectl, request):
    """The check fails, with an assertion, on a copy of the tree with its defect planted back."""
    work = tmp_path / "tree"
    shutil.copytree(pristine, work)
    path = work / mutation.file
    path.write_text(mutation.mutate(path.read_text(encoding="utf-8")), encoding="utf-8")
    k8s = Manifests(render(work / "k8s", kubectl), work)

    failure = run_check(CHECKS[mutation.check], k8s)
    assert failure is not None, f"{mutation.check} passed on the mutant ({mutation.what}); it must fail"
    # What the check said goes into the JUnit report.
    request.node.user_properties.append(("detected", failure.split("\nassert ")[0]))

    if mutation.promtool:
        tests = sorted(str(p) for p in (work / "k8s/monitoring/rules/tests").glob("*.yml"))
        promtool = request.getfixturevalue("promtool")
        result = subprocess.run([promtool, "test", "rules", *tests], capture_output=True, text=True)
        assert result.returncode != 0, f"promtool test rules passed on the mutant ({mutation.what}); it must fail"
