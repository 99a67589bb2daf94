"""NetworkPolicies: default deny, then exactly the flows the system needs.

The policies of k8s/network-policies.yml are evaluated rule by rule (netpol.NetworkModel)
for every flow the system needs, which must be allowed, and for flows it must not have,
which must be blocked.
"""

from .manifests import SERVICES
from .netpol import NetworkModel


def test_req_network_policies(k8s):
    """NetworkPolicies: default deny, and exactly the flows the system needs"""
    pols = k8s.of_kind("NetworkPolicy")
    assert any(d["spec"].get("podSelector") == {} and set(d["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
               and not d["spec"].get("ingress") and not d["spec"].get("egress") for d in pols), (
        "no default-deny NetworkPolicy (podSelector {}, Ingress+Egress, no rules)")
    net = NetworkModel(k8s)
    app = lambda a: net.pod(k8s.by_app(a)[0]) if k8s.by_app(a) else None  # noqa: E731
    required = []
    for w in k8s.workloads:
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
    for w in k8s.workloads:
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
    missing = [f"{src} -> {dst}" for src, dst, _, _ in required if not (src and dst)]
    assert not missing, "required flows name a missing workload:\n" + "\n".join(missing)
    blocked = []
    for src, dst, port, proto in required:
        ok, why = net.allowed(src, dst, port, proto)
        if not ok:
            blocked.append(f"{src['name']} -> {dst['name']}:{port}/{proto} ({why})")
    assert not blocked, f"{len(blocked)} required flows are blocked:\n" + "\n".join(blocked)
    allowed = []
    for src, dst, port, proto in forbidden:
        if src and dst and net.allowed(src, dst, port, proto)[0]:
            allowed.append(f"{src['name']} -> {dst['name']}:{port}/{proto}")
    assert not allowed, f"{len(allowed)} flows are allowed but should not be:\n" + "\n".join(allowed)
