import Foundation

/// Everything the command line can say about a target; ``makeTarget()`` turns it into one.
public struct TargetOptions: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case embedded
        case local
        case kubernetes
    }

    public var kind: Kind
    public var baseURL: String?
    public var bookstoreBinary: String?
    /// embedded: where the spawned system's output goes (nil: a temporary file, deleted afterwards).
    public var embeddedLog: String?
    public var contractsDirectory: String?
    public var jwtSecret: String?
    public var jwtAlgorithm: String?
    public var adminUsername: String
    public var adminPassword: String
    public var controlURL: String?
    public var rabbitManagementURL: String?
    public var rabbitUser: String?
    public var rabbitPassword: String?
    public var prometheusURL: String?
    public var alertmanagerURL: String?
    public var kubectl: String
    public var context: String?
    public var namespace: String
    /// The services' own URLs (`--service-url NAME=URL`), for the direct-to-service checks.
    public var serviceURLs: [String: String]

    public init(
        kind: Kind,
        baseURL: String? = nil,
        bookstoreBinary: String? = nil,
        embeddedLog: String? = nil,
        contractsDirectory: String? = nil,
        jwtSecret: String? = nil,
        jwtAlgorithm: String? = nil,
        adminUsername: String = "admin",
        adminPassword: String = "admin123",
        controlURL: String? = nil,
        rabbitManagementURL: String? = nil,
        rabbitUser: String? = nil,
        rabbitPassword: String? = nil,
        prometheusURL: String? = nil,
        alertmanagerURL: String? = nil,
        kubectl: String = "kubectl",
        context: String? = nil,
        namespace: String = "bookstore",
        serviceURLs: [String: String] = [:]
    ) {
        self.serviceURLs = serviceURLs
        self.kind = kind
        self.baseURL = baseURL
        self.bookstoreBinary = bookstoreBinary
        self.embeddedLog = embeddedLog
        self.contractsDirectory = contractsDirectory
        self.jwtSecret = jwtSecret
        self.jwtAlgorithm = jwtAlgorithm
        self.adminUsername = adminUsername
        self.adminPassword = adminPassword
        self.controlURL = controlURL
        self.rabbitManagementURL = rabbitManagementURL
        self.rabbitUser = rabbitUser
        self.rabbitPassword = rabbitPassword
        self.prometheusURL = prometheusURL
        self.alertmanagerURL = alertmanagerURL
        self.kubectl = kubectl
        self.context = context
        self.namespace = namespace
    }

    /// The target these options describe; the OpenAPI documents are loaded here.
    ///
    /// - Throws: when a given contracts directory cannot be read.
    public func makeTarget() throws -> any Target {
        var contracts: ContractBook?
        if let directory = self.contractsDirectory ?? ContractBook.locateDirectory() {
            contracts = try ContractBook(directory: directory)
        }
        let signingKey = self.jwtSecret.map { SigningKey(secret: $0, algorithm: self.jwtAlgorithm) }
        let admin = AdminCredentials(username: self.adminUsername, password: self.adminPassword)
        let rabbit = self.rabbitManagementURL.map {
            RabbitManagementEndpoint(url: $0, user: self.rabbitUser ?? "guest", password: self.rabbitPassword ?? "guest")
        }
        switch self.kind {
        case .embedded where self.baseURL != nil:
            // Attaching to a running system, ours or any other implementation: every capability comes from what is
            // given (--rabbitmq-management-url, --service-url, --prometheus-url, --alertmanager-url, --control-url).
            return LocalTarget(
                configuration: .init(
                    baseURL: self.baseURL ?? "",
                    controlURL: self.controlURL,
                    rabbitManagement: rabbit,
                    prometheusURL: self.prometheusURL,
                    alertmanagerURL: self.alertmanagerURL,
                    contracts: contracts,
                    signingKey: signingKey,
                    admin: admin,
                    serviceURLs: self.serviceURLs,
                    name: "attached"
                )
            )
        case .embedded:
            return EmbeddedTarget(
                configuration: .init(
                    binary: self.bookstoreBinary ?? EmbeddedTarget.defaultBinary(),
                    baseURL: self.baseURL,
                    contracts: contracts,
                    signingKey: signingKey,
                    admin: admin,
                    logPath: self.embeddedLog
                )
            )
        case .local:
            return LocalTarget(
                configuration: .init(
                    baseURL: self.baseURL ?? "http://127.0.0.1:8080",
                    controlURL: self.controlURL ?? "http://127.0.0.1:7070",
                    rabbitManagement: rabbit,
                    prometheusURL: self.prometheusURL,
                    alertmanagerURL: self.alertmanagerURL,
                    contracts: contracts,
                    signingKey: signingKey,
                    admin: admin,
                    serviceURLs: self.serviceURLs
                )
            )
        case .kubernetes:
            let credentials = self.rabbitUser.flatMap { user in self.rabbitPassword.map { (user: user, password: $0) } }
            return KubernetesTarget(
                configuration: .init(
                    kubectl: self.kubectl,
                    context: self.context,
                    namespace: self.namespace,
                    baseURL: self.baseURL,
                    prometheusURL: self.prometheusURL,
                    alertmanagerURL: self.alertmanagerURL,
                    rabbitManagement: rabbit,
                    rabbitCredentials: credentials,
                    contracts: contracts,
                    signingKey: signingKey,
                    admin: admin
                )
            )
        }
    }
}
