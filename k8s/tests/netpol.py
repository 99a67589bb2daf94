"""Evaluates the NetworkPolicies of the namespace for one connection, rule by rule."""

import ipaddress

from .manifests import NAMESPACE, selector_matches


class NetworkModel:
    """Would the NetworkPolicies let `src` open a connection to `dst`:port/proto?

    Endpoints are dicts: pods of the namespace (`pod(workload)`), pods elsewhere
    (DNS, the Ingress controller) and plain IP addresses (a client, the API server).
    """

    EXTERNAL = dict(name="external-client", kind="ip", ip="203.0.113.10")
    API_SERVER = dict(name="kubernetes-api", kind="ip", ip="172.20.0.1")
    DNS = dict(name="kube-dns", kind="pod", namespace="kube-system", labels={"k8s-app": "kube-dns"},
               ports=[dict(name="dns", port=53, protocol="UDP"), dict(name="dns-tcp", port=53, protocol="TCP")])
    INGRESS_CONTROLLER = dict(name="ingress-nginx", kind="pod", namespace="ingress-nginx",
                              labels={"app.kubernetes.io/name": "ingress-nginx"}, ports=[])

    def __init__(self, k8s):
        self.k8s = k8s
        self.policies = k8s.of_kind("NetworkPolicy")
        ns = k8s.get("Namespace", NAMESPACE) or {"metadata": {}}
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
        """(True, "") or (False, why)."""
        ok, why = self._side(src, "Egress", dst, port, proto, dst)
        if not ok:
            return False, "egress: " + why
        ok, why = self._side(dst, "Ingress", src, port, proto, dst)
        if not ok:
            return False, "ingress: " + why
        return True, ""
