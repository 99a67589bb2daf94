import Foundation

/// The local cluster of processes (`bookstore cluster up` / `ci/local-cluster up`), attached to through its
/// gateway, its control API, the RabbitMQ management API, Prometheus and Alertmanager. Each interface is probed
/// in ``prepare()``; one that does not answer becomes a missing capability with the reason.
public final class LocalTarget: Target {
    public struct Configuration: Sendable {
        public var baseURL: String
        public var controlURL: String?
        public var rabbitManagement: RabbitManagementEndpoint?
        public var prometheusURL: String?
        public var alertmanagerURL: String?
        public var contracts: ContractBook?
        public var signingKey: SigningKey?
        public var admin: AdminCredentials
        /// The services' own URLs (`--service-url`); when empty, the first ready replica of each service that the
        /// control API lists.
        public var serviceURLs: [String: String]
        /// How the target is named in reports: `local`, or `attached` for any system given by its URLs.
        public var name: String

        public init(
            baseURL: String = "http://127.0.0.1:8080",
            controlURL: String? = "http://127.0.0.1:7070",
            rabbitManagement: RabbitManagementEndpoint? = nil,
            prometheusURL: String? = nil,
            alertmanagerURL: String? = nil,
            contracts: ContractBook? = nil,
            signingKey: SigningKey? = nil,
            admin: AdminCredentials = AdminCredentials(username: "admin", password: "admin123"),
            serviceURLs: [String: String] = [:],
            name: String = "local"
        ) {
            self.serviceURLs = serviceURLs
            self.name = name
            self.baseURL = baseURL
            self.controlURL = controlURL
            self.rabbitManagement = rabbitManagement
            self.prometheusURL = prometheusURL
            self.alertmanagerURL = alertmanagerURL
            self.contracts = contracts
            self.signingKey = signingKey
            self.admin = admin
        }
    }

    public var name: String { self.configuration.name }
    public let configuration: Configuration
    private let state = StateBox(TargetEndpoints())

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    public var endpoints: TargetEndpoints { self.state.value }

    public func prepare() async throws {
        let configuration = self.configuration
        var endpoints = TargetEndpoints(
            baseURL: configuration.baseURL,
            contracts: configuration.contracts,
            signingKey: configuration.signingKey,
            admin: configuration.admin
        )
        endpoints.missingReasons[.contracts] = "the OpenAPI documents were not found (pass --contracts-dir)"
        endpoints.missingReasons[.signingKey] = "the JWT secret of the cluster is unknown (pass --jwt-secret)"
        endpoints.serviceURLs = configuration.serviceURLs
        let probe = HTTPDriver(client: ConformanceHTTP.client, baseURL: configuration.baseURL, evidence: nil, timeout: .seconds(5))
        var notReady: String?
        do {
            try await EmbeddedTarget.waitUntilServing(configuration.baseURL, timeout: .seconds(10), child: nil)
        } catch {
            notReady = "\(error)"
        }

        if let controlURL = configuration.controlURL {
            let control = ControlAPIReplicaControl(baseURL: controlURL)
            do {
                let replicas = try await control.replicas()
                endpoints.replicaControl = control
                if endpoints.serviceURLs.isEmpty {
                    for replica in replicas where replica.status == "ready" && replica.service != "gateway" {
                        if endpoints.serviceURLs[replica.service] == nil, let url = replica.url { endpoints.serviceURLs[replica.service] = url }
                    }
                }
            } catch {
                endpoints.missingReasons[.replicaControl] = "the control API at \(controlURL) does not answer: \(error)"
            }
            let autoscaler = ControlAPIAutoscalerProbe(baseURL: controlURL)
            do {
                if try await autoscaler.autoscalers().isEmpty {
                    endpoints.missingReasons[.autoscaler] = "the local cluster runs without its autoscaler (bookstore cluster up --autoscale '')"
                } else {
                    endpoints.autoscaler = autoscaler
                }
            } catch {
                endpoints.missingReasons[.autoscaler] = "the control API at \(controlURL) serves no autoscalers: \(error)"
            }
        } else {
            endpoints.missingReasons[.replicaControl] = "no control API (pass --control-url)"
            endpoints.missingReasons[.autoscaler] = "no control API (pass --control-url)"
        }

        if let rabbit = configuration.rabbitManagement {
            let client = RabbitManagementClient(endpoint: rabbit, driver: probe.at(rabbit.url))
            do {
                try await client.overview()
                endpoints.rabbitManagement = rabbit
            } catch {
                endpoints.missingReasons[.amqpManagement] = "the RabbitMQ management API at \(rabbit.url) does not answer: \(error)"
            }
        } else {
            endpoints.missingReasons[.amqpManagement] = "no RabbitMQ management API (pass --rabbitmq-management-url or set RABBITMQ_MANAGEMENT_URL)"
        }

        endpoints.prometheusURL = await Self.probe(
            configuration.prometheusURL,
            path: "/api/v1/status/buildinfo",
            capability: .prometheus,
            flag: "--prometheus-url or set PROMETHEUS_URL",
            into: &endpoints.missingReasons
        )
        endpoints.alertmanagerURL = await Self.probe(
            configuration.alertmanagerURL,
            path: "/api/v2/status",
            capability: .alertmanager,
            flag: "--alertmanager-url or set ALERTMANAGER_URL",
            into: &endpoints.missingReasons
        )
        self.state.value = endpoints
        if let notReady { throw TargetNotReady(notReady) }
    }

    public func release() async {}

    /// The URL when `path` answers 200 there, else nil with the reason recorded.
    static func probe(
        _ url: String?,
        path: String,
        capability: Capability,
        flag: String,
        into reasons: inout [Capability: String]
    ) async -> String? {
        guard let url else {
            reasons[capability] = "no \(capability) URL (pass \(flag))"
            return nil
        }
        let driver = HTTPDriver(client: ConformanceHTTP.client, baseURL: url, evidence: nil, timeout: .seconds(5))
        do {
            let response = try await driver.get(path)
            guard response.status == 200 else {
                reasons[capability] = "\(capability) at \(url) answered \(response.status) to GET \(path)"
                return nil
            }
            return url
        } catch {
            reasons[capability] = "\(capability) at \(url) does not answer: \(error)"
            return nil
        }
    }
}
