import BookstoreRuntime
import Foundation
import JSONKit
import Logging
import Synchronization
import Testing

@testable import LocalCluster

#if canImport(Glibc)
import Glibc
#endif

/// The manifests the stand-in follows, the `/proc` readings it takes, and one sync pass over a fake cluster.
@Suite struct LocalAutoscalerTests {
    static let k8sDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../k8s").standardized.path

    // MARK: Manifests

    @Test func readsEveryHPAOfTheProjectsManifests() throws {
        let manifests = try KubernetesManifests.load(directory: Self.k8sDirectory)
        let targets = Set(manifests.autoscalers.map(\.targetName))
        #expect(targets == ["gateway-service", "user-service", "payment-service-python", "payment-service-java", "review-service"])
        let review = try #require(manifests.autoscalers.first { $0.targetName == "review-service" })
        #expect(review.name == "review-service-hpa")
        #expect(review.minReplicas == 2 && review.maxReplicas == 10)
        #expect(review.metrics == [.init(resource: "cpu", averageUtilization: 70), .init(resource: "memory", averageUtilization: 80)])
        #expect(review.scaleUp.stabilizationWindowSeconds == 0)
        #expect(review.scaleUp.policies == [.init(.percent, value: 100, periodSeconds: 15), .init(.pods, value: 4, periodSeconds: 15)])
        #expect(review.scaleDown.stabilizationWindowSeconds == 300)
        #expect(review.scaleDown.selectPolicy == .min)
        #expect(manifests.requests["review-service"] == ResourceRequests(cpuCores: 0.25, memoryBytes: 256 * 1_048_576))
    }

    @Test func leftOutBehaviourTakesTheKubernetesDefaults() throws {
        let yaml = """
            apiVersion: autoscaling/v2
            kind: HorizontalPodAutoscaler
            metadata:
              name: plain
            spec:
              scaleTargetRef: {kind: Deployment, name: user-service}
              maxReplicas: 4
              behavior:
                scaleDown:
                  stabilizationWindowSeconds: 60
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: user-service}
            spec:
              template:
                spec:
                  containers:
                    - name: app
                      resources: {requests: {cpu: "0.5", memory: 1Gi}}
            """
        let manifests = try KubernetesManifests.parse([("plain.yml", yaml)])
        let spec = try #require(manifests.autoscalers.first)
        #expect(spec.minReplicas == 1)
        #expect(spec.metrics == [.init(resource: "cpu", averageUtilization: 80)])
        #expect(spec.scaleUp == .defaultScaleUp)
        #expect(spec.scaleDown.stabilizationWindowSeconds == 60)
        #expect(spec.scaleDown.policies == HorizontalPodAutoscalerSpec.Rules.defaultScaleDown.policies)
        #expect(manifests.requests["user-service"] == ResourceRequests(cpuCores: 0.5, memoryBytes: 1_073_741_824))
    }

    @Test(arguments: [
        ("spec: {scaleTargetRef: {name: x}}", "maxReplicas"),
        ("spec: {scaleTargetRef: {name: x}, maxReplicas: 3, minReplicas: 5}", "minReplicas"),
        ("spec: {maxReplicas: 3}", "scaleTargetRef"),
        ("spec: {scaleTargetRef: {name: x}, maxReplicas: 3, metrics: [{type: External}]}", "Resource metrics"),
        ("spec: {scaleTargetRef: {name: x}, maxReplicas: 3, behavior: {scaleUp: {selectPolicy: Fastest}}}", "selectPolicy"),
        ("spec: {scaleTargetRef: {name: x}, maxReplicas: 3, behavior: {scaleUp: {policies: [{type: Pods, value: 0, periodSeconds: 15}]}}}", "policy"),
    ])
    func invalidAutoscalersAreRejectedWithTheReason(body: String, reason: String) {
        let yaml = "kind: HorizontalPodAutoscaler\nmetadata: {name: bad}\n" + body
        #expect {
            _ = try KubernetesManifests.parse([("bad.yml", yaml)])
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".contains("bad.yml")
        }
    }

    @Test func quantities() throws {
        #expect(try Quantity.cores(from: "250m", file: "f") == 0.25)
        #expect(try Quantity.cores(from: "2", file: "f") == 2)
        #expect(try Quantity.bytes(from: "256Mi", file: "f") == 268_435_456)
        #expect(try Quantity.bytes(from: "500M", file: "f") == 500_000_000)
        #expect(throws: ManifestError.self) { try Quantity.bytes(from: "lots", file: "f") }
    }

    // MARK: /proc readings

    @Test func parsesProcStatWithSpacesInTheCommandName() throws {
        let stat = "4242 (bookstore serve) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 1000 123456 789"
        let usage = try #require(ProcessUsage.parse(stat: stat, statm: "5000 2560 300 10 0 900 0", ticksPerSecond: 100, pageSize: 4096))
        #expect(usage.cpuSeconds == 3)  // (250 + 50) ticks at 100 per second
        #expect(usage.residentBytes == 2560 * 4096)
        #expect(ProcessUsage.parse(stat: "garbage", statm: "1 2", ticksPerSecond: 100, pageSize: 4096) == nil)
    }

    @Test func readsThisProcess() throws {
        let usage = try #require(ProcessUsage.read(pid: getpid()))
        #expect(usage.cpuSeconds > 0)
        #expect(usage.residentBytes > 1_000_000)
        #expect(ProcessUsage.read(pid: Int32.max) == nil)
    }

    @Test func samplerNeedsTwoReadingsOfTheSameProcess() {
        var sampler = UsageSampler()
        let start = ContinuousClock.now
        let readings: [Int32: ProcessUsage] = [
            1: ProcessUsage(cpuSeconds: 10, residentBytes: 100), 2: ProcessUsage(cpuSeconds: 50, residentBytes: 200),
        ]
        #expect(sampler.sample(pod: "a", pid: 1, now: start, read: { readings[$0] }) == nil, "no window yet")
        let later = ProcessUsage(cpuSeconds: 13, residentBytes: 150)
        let rate = sampler.sample(pod: "a", pid: 1, now: start + .seconds(15), read: { _ in later })
        #expect(rate?.cpuCores == 0.2 && rate?.memoryBytes == 150)
        #expect(sampler.sample(pod: "a", pid: 2, now: start + .seconds(30), read: { readings[$0] }) == nil, "a restarted process starts over")
        #expect(sampler.sample(pod: "a", pid: 2, now: start + .seconds(45), read: { _ in nil }) == nil)
    }

    // MARK: One controller pass over a fake cluster

    @Test func syncScalesAServiceWhoseReplicasAreBusyAndReportsItLikeKubectl() async throws {
        let cluster = FakeCluster(kind: .reviews, count: 2)
        let cpu = Mutex<Double>(0)
        let manifests = try KubernetesManifests.load(directory: Self.k8sDirectory)
        let autoscaler = LocalAutoscaler(
            configuration: AutoscalingConfiguration(manifests: manifests, services: [.reviews], syncPeriod: .seconds(15)),
            cluster: cluster,
            logger: Logger(label: "test"),
            readUsage: { _ in ProcessUsage(cpuSeconds: cpu.withLock { $0 }, residentBytes: 64 * 1_048_576) }
        )
        #expect(await autoscaler.autoscaledServices == [.reviews])
        let start = ContinuousClock.now
        await autoscaler.sync(now: start)  // first readings; pods become "ready at last sync"
        #expect(cluster.scaledTo.withLock { $0 }.isEmpty)
        let idle = try #require(await autoscaler.object(for: "reviews"))
        #expect(idle["status"]?["desiredReplicas"] == 2)

        // 0.35 cores per replica for 15 s: 140 % of the 250m request against a 70 % target.
        cpu.withLock { $0 += 0.35 * 15 }
        await autoscaler.sync(now: start + .seconds(15))
        #expect(cluster.scaledTo.withLock { $0 } == [4])
        let object = try #require(await autoscaler.object(for: "review-service"))
        #expect(object["kind"] == "HorizontalPodAutoscaler")
        #expect(object["spec"]?["scaleTargetRef"]?["name"] == "review-service")
        #expect(object["spec"]?["minReplicas"] == 2 && object["spec"]?["maxReplicas"] == 10)
        #expect(object["spec"]?["behavior"]?["scaleDown"]?["stabilizationWindowSeconds"] == 300)
        #expect(object["status"]?["currentReplicas"] == 2)
        #expect(object["status"]?["desiredReplicas"] == 4)
        #expect(object["status"]?["lastScaleTime"]?.stringValue != nil)
        let metrics = object["status"]?["currentMetrics"]?.arrayValue ?? []
        let cpuMetric = try #require(metrics.first { $0["resource"]?["name"] == "cpu" })
        #expect(cpuMetric["resource"]?["current"]?["averageUtilization"] == 140)
        #expect(cpuMetric["resource"]?["current"]?["averageValue"] == "350m")
        let memory = try #require(metrics.first { $0["resource"]?["name"] == "memory" })
        #expect(memory["resource"]?["current"]?["averageUtilization"] == 25)
        #expect(await autoscaler.list()["items"]?.arrayValue?.count == 1)
        #expect(await autoscaler.object(for: "users") == nil, "only the configured services")
    }

    @Test func podsThatWereNotReadyAtTheLastSyncDoNotCountForCPU() async throws {
        let cluster = FakeCluster(kind: .reviews, count: 2, status: .starting)
        let cpu = Mutex<Double>(0)
        let autoscaler = LocalAutoscaler(
            configuration: AutoscalingConfiguration(manifests: try KubernetesManifests.load(directory: Self.k8sDirectory), services: [.reviews]),
            cluster: cluster,
            logger: Logger(label: "test"),
            readUsage: { _ in ProcessUsage(cpuSeconds: cpu.withLock { $0 }, residentBytes: 64 * 1_048_576) }
        )
        let start = ContinuousClock.now
        await autoscaler.sync(now: start)
        cluster.setStatus(.ready)
        cpu.withLock { $0 += 3 * 15 }  // a start-up burst: 3 cores
        await autoscaler.sync(now: start + .seconds(15))
        #expect(cluster.scaledTo.withLock { $0 }.isEmpty, "the burst happened before the replicas were ready")
        let object = try #require(await autoscaler.object(for: "reviews"))
        #expect(object["status"]?["desiredReplicas"] == 2)
    }
}

/// A cluster of `count` replicas of one service with fake pids, recording scale requests.
final class FakeCluster: AutoscaledCluster {
    let replicas: Mutex<[Replica]>
    let scaledTo = Mutex<[Int]>([])

    init(kind: ServiceKind, count: Int, status: Replica.Status = .ready) {
        self.replicas = Mutex(
            (0..<count).map { index in
                var replica = Replica(id: "\(kind.rawValue)-\(index + 1)", kind: kind, port: 9000 + index)
                replica.pid = Int32(1000 + index)
                replica.status = status
                return replica
            }
        )
    }

    func setStatus(_ status: Replica.Status) {
        self.replicas.withLock { replicas in
            for index in replicas.indices { replicas[index].status = status }
        }
    }

    var allReplicas: [Replica] { self.replicas.withLock { $0 } }

    func scale(_ kind: ServiceKind, to count: Int) async throws -> [Replica] {
        self.scaledTo.withLock { $0.append(count) }
        return self.replicas.withLock { $0 }
    }
}
