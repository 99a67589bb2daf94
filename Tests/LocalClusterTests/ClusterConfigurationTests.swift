import BookstoreRuntime
import Testing

@testable import LocalCluster

@Suite struct ClusterConfigurationTests {
    @Test func servicesTrustTheGatewayOnLoopbackAndTheGatewayTrustsNoOne() {
        var configuration = ClusterConfiguration(binary: "/bin/true", dataDirectory: "/tmp", useRealInfrastructure: false)
        for kind in [ServiceKind.users, .paymentsPython, .paymentsJava, .reviews] {
            let environment = configuration.environment(for: Replica(id: "\(kind.rawValue)-1", kind: kind, port: 9001), upstreamsFile: "u.json")
            #expect(environment["TRUSTED_PROXIES"] == "127.0.0.1", "\(kind)")
        }
        let gateway = configuration.environment(for: Replica(id: "gateway-1", kind: .gateway, port: 9000), upstreamsFile: "u.json")
        #expect(gateway["TRUSTED_PROXIES"] == nil && gateway["GATEWAY_TRUSTED_PROXIES"] == nil, "clients connect to the gateway directly")
        configuration.environment = ["TRUSTED_PROXIES": "10.0.0.0/8"]
        let users = configuration.environment(for: Replica(id: "users-1", kind: .users, port: 9001), upstreamsFile: "u.json")
        #expect(users["TRUSTED_PROXIES"] == "10.0.0.0/8", "a configured value wins")
    }
}
