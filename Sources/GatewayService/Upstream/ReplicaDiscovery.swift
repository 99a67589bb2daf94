import BookstoreCore
import Foundation
import JSONKit
import Logging
import NIOCore
import ServiceLifecycle

/// Re-reads `UPSTREAMS_FILE` — a JSON object from upstream setting name to a list of URLs, e.g.
/// `{"USER_SERVICE_URL": ["http://127.0.0.1:8081", "http://127.0.0.1:8083"]}` — whenever it changes, so a
/// supervisor (the local cluster) can add and remove replicas without restarting the gateway. Invalid content is
/// logged and ignored.
struct UpstreamsFileWatcher: Service {
    let path: String
    let upstreams: [String: Upstream]
    let resolver: HostResolver
    let logger: Logger

    func run() async throws {
        var lastModified: Date?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: self.path),
                let modified = attributes[.modificationDate] as? Date, modified != lastModified
            {
                lastModified = modified
                await self.reload()
            }
            await Task.sleepUnlessShuttingDown(for: .milliseconds(500))
        }
    }

    func reload() async {
        guard let data = FileManager.default.contents(atPath: self.path), let json = try? JSON.parse(Array(data)),
            let object = json.objectValue
        else {
            self.logger.warning("Upstreams file unreadable, keeping the current replicas", metadata: ["file.path": .string(self.path)])
            return
        }
        for entry in Upstreams.settings {
            guard let urls = object[entry.key]?.arrayValue?.compactMap(\.stringValue), let upstream = self.upstreams[entry.name] else { continue }
            do {
                if upstream.setTargets(try parseTargets(urls, key: entry.key)) { await upstream.refresh(resolver: self.resolver) }
            } catch {
                self.logger.warning(
                    "Invalid replica list in the upstreams file",
                    metadata: ["file.path": .string(self.path), "error.message": .string(error.description)]
                )
            }
        }
    }
}

/// Resolves the upstreams' host names again every `interval`, so that replicas behind a DNS name (a Kubernetes
/// headless Service) come and go.
struct DNSRefresher: Service {
    let upstreams: [Upstream]
    let interval: Duration
    let resolver: HostResolver

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await Task.sleepUnlessShuttingDown(for: self.interval)
            for upstream in self.upstreams where upstream.hasHostNames {
                await upstream.refresh(resolver: self.resolver)
            }
        }
    }
}

/// Checks every replica's readiness endpoint every `interval` (all in parallel), and keeps the
/// `gateway_upstream_healthy` gauges current (ejections end by themselves).
struct HealthChecker: Service {
    let upstreams: [Upstream]
    let interval: Duration
    let timeout: Duration
    let pools: ConnectionPools
    let eventLoopGroup: any EventLoopGroup

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if self.interval > .zero { await self.checkAll() }
            for upstream in self.upstreams { upstream.updateHealthGauges() }
            await Task.sleepUnlessShuttingDown(for: self.interval > .zero ? self.interval : .seconds(1))
        }
    }

    func checkAll() async {
        await withTaskGroup(of: Void.self) { group in
            for upstream in self.upstreams {
                for endpoint in upstream.endpoints {
                    let eventLoop = self.eventLoopGroup.any()
                    let pools = self.pools
                    let timeout = TimeAmount(self.timeout)
                    group.addTask {
                        let healthy =
                            (try? await eventLoop.flatSubmit {
                                HealthProbe.check(endpoint, path: upstream.readinessPath, timeout: timeout, pool: pools.pool(for: eventLoop))
                            }.get()) ?? false
                        upstream.recordCheck(endpoint, healthy: healthy)
                    }
                }
            }
        }
    }
}

extension Task where Success == Never, Failure == Never {
    /// Sleeps, waking early when a graceful shutdown begins.
    static func sleepUnlessShuttingDown(for duration: Duration) async {
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }
}
