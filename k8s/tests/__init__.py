"""Checks of the Kubernetes manifests under k8s/, as a pytest suite (run by ci/validate-k8s).

    python3 -m pytest k8s/tests                      every check, then the mutation tests
    python3 -m pytest k8s/tests -m "not mutations"   the checks only (about a second)
    python3 -m pytest k8s/tests --rendered FILE      check a file `kubectl kustomize k8s` wrote

test_defects.py   one test per defect of the original project (SPEC §7)
test_promql.py    the alert rules (PromQL, thresholds, promtool tests, test profile)
test_network.py   NetworkPolicies against the flows the system needs and must not have
test_requirements.py  SPEC §7-§8 and seed README requirements
test_mutations.py plants each defect back into a copy of the tree: its test must fail

Helpers: manifests.py (the rendered objects and the facts they are checked against),
netpol.py (NetworkPolicy evaluation), promql.py (PromQL reading).
"""
