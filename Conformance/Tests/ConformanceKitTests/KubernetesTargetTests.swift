import ConformanceKit
import Foundation
import Testing

/// The kubernetes target against a fake `kubectl` (a script answering `get … -o json`, `delete pod`, `scale` and
/// `port-forward` like the real one), so the parsing of Deployments, Pods and HPAs and the port-forward handling
/// are exercised without a cluster.
@Suite struct KubernetesTargetTests {
    static func writeFakeKubectl(in directory: URL, forwardPort: Int) throws -> String {
        let pods = """
            {"items": [
              {"metadata": {"name": "review-service-abc", "labels": {"app": "review-service"}},
               "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{"restartCount": 1}]}},
              {"metadata": {"name": "review-service-def", "labels": {"app": "review-service"}},
               "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}},
              {"metadata": {"name": "postgres-0", "labels": {"app": "postgres"}}, "status": {"phase": "Running"}}
            ]}
            """
        let hpa = """
            {"items": [{"metadata": {"name": "gateway-service-hpa"},
              "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "gateway-service"}, "minReplicas": 2, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
                "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 15}]},
                             "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}}},
              "status": {"currentReplicas": 2, "desiredReplicas": 2}}]}
            """
        try Data(pods.utf8).write(to: directory.appendingPathComponent("pods.json"))
        try Data(hpa.utf8).write(to: directory.appendingPathComponent("hpa.json"))
        try Data(#"{"items": []}"#.utf8).write(to: directory.appendingPathComponent("deployments.json"))
        let script = """
            #!/bin/bash
            dir=\(directory.path)
            echo "$*" >> "$dir/calls"
            while [ $# -gt 0 ]; do case $1 in --namespace|--context) shift 2 ;; *) break ;; esac; done
            case "$1 $2" in
              "get deployments") cat "$dir/deployments.json" ;;
              "get pods") cat "$dir/pods.json" ;;
              "get hpa") cat "$dir/hpa.json" ;;
              "delete pod") echo "pod \\"$3\\" deleted" ;;
              "port-forward --address") echo "Forwarding from 127.0.0.1:\(forwardPort) -> 8080"; exec sleep 60 ;;
              *) echo "fake kubectl: unsupported $*" >&2; exit 1 ;;
            esac
            """
        let path = directory.appendingPathComponent("kubectl").path
        try Data(script.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    @Test func readsPodsAndHPAsAndPortForwardsTheGateway() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-kubectl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let operations = FakeOperations()
        try await FakeServer.with(operations.router) { url in
            let port = Int(url.split(separator: ":").last ?? "") ?? 0
            let kubectl = try Self.writeFakeKubectl(in: directory, forwardPort: port)
            let target = KubernetesTarget(
                configuration: .init(kubectl: kubectl, context: "test", prometheusURL: url, alertmanagerURL: url)
            )
            try await target.prepare()
            #expect(target.endpoints.baseURL == "http://127.0.0.1:\(port)")
            #expect(target.capabilities.isSuperset(of: [.http, .replicaControl, .autoscaler, .prometheus, .alertmanager]))
            #expect(!target.capabilities.contains(.amqpManagement))
            let replicas = try await #require(target.endpoints.replicaControl).replicas()
            #expect(replicas.map(\.id) == ["review-service-abc", "review-service-def"])
            #expect(replicas.map(\.status) == ["ready", "starting"])
            #expect(replicas.first?.service == "reviews" && replicas.first?.restarts == 1)
            try await #require(target.endpoints.replicaControl).kill("review-service-abc")
            let hpa = try await #require(target.endpoints.autoscaler).autoscaler(for: "gateway")
            #expect(hpa.minReplicas == 2 && hpa.maxReplicas == 10 && hpa.cpuTargetUtilization == 70)
            #expect(hpa.scaleUpPeriodSeconds == 15 && hpa.scaleDownStabilizationSeconds == 300 && hpa.scaleDownPeriodSeconds == 60)
            let report = await ConformanceRunner.run(try Catalogue.select(ids: ["HPA-BOUNDS"]), against: target)
            #expect(report.results.first?.status == .passed, "\(report.results.first?.status.message ?? "")")
            await target.release()
            let calls = (try? String(contentsOf: directory.appendingPathComponent("calls"), encoding: .utf8)) ?? ""
            #expect(calls.contains("--context test --namespace bookstore delete pod review-service-abc --grace-period=0 --force --wait=false"))
            #expect(calls.contains("port-forward --address 127.0.0.1 svc/gateway-service :8080"))
        }
    }
}
