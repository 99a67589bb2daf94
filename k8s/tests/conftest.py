"""Session fixtures of the Kubernetes checks.

`k8s` is the rendering of k8s/ (what `kubectl apply -k k8s` would send) wrapped in a
`manifests.Manifests`: select objects with k8s.of_kind("Service"), k8s.get("Service", name),
k8s.workload(name), k8s.by_app(app); read source files with k8s.read("k8s/secrets.yml").
kubectl renders k8s/ once per session, unless --rendered names a file it already wrote.
"""

import shutil

import pytest

from .manifests import REPO_ROOT, Manifests, load_rendered, render


def pytest_addoption(parser):
    group = parser.getgroup("k8s", "Kubernetes manifest checks")
    group.addoption("--rendered", metavar="FILE",
                    help="output of `kubectl kustomize k8s` to check (default: render k8s/ once per session)")
    group.addoption("--kubectl", default="kubectl", metavar="PATH", help="kubectl to render with (default: kubectl)")
    group.addoption("--promtool", default="promtool", metavar="PATH",
                    help="promtool for the rule mutations (default: promtool)")


def pytest_collection_modifyitems(items):
    # What each check guards against (its docstring) goes into the JUnit report.
    for item in items:
        doc = (getattr(getattr(item, "function", None), "__doc__", None) or "").strip()
        if doc:
            item.user_properties.append(("description", " ".join(doc.split("\n\n")[0].split())))


@pytest.fixture(scope="session")
def repo_root():
    """The repository root: k8s/, Dockerfile, .dockerignore."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def kubectl(request):
    path = request.config.getoption("--kubectl")
    if shutil.which(path) is None:
        pytest.fail(f"{path} not found: kubectl >= 1.21 renders the manifests (or pass --rendered FILE)")
    return path


@pytest.fixture(scope="session")
def promtool(request):
    path = request.config.getoption("--promtool")
    if shutil.which(path) is None:
        pytest.fail(f"{path} not found: the rule mutations run `promtool test rules` (Debian package prometheus)")
    return path


@pytest.fixture(scope="session")
def rendered_docs(request, repo_root):
    """The objects of the rendering: the --rendered file, or `kubectl kustomize k8s` run once."""
    path = request.config.getoption("--rendered")
    if path:
        return load_rendered(path)
    return render(repo_root / "k8s", request.getfixturevalue("kubectl"))


@pytest.fixture(scope="session")
def k8s(rendered_docs, repo_root):
    """The rendered manifests with selection helpers, and the repository's source files."""
    return Manifests(rendered_docs, repo_root)
