import BookstoreCore
import Foundation
import Hummingbird
import JSONKit

/// The planted defects of the operations side (issue 10, cluster stage): alerting rules loaded into the local
/// cluster's Prometheus and HorizontalPodAutoscaler manifests its autoscaler follows, both in place of the real ones.
extension FaultCatalogue {
    /// Alerting rules a real deployment could get wrong (`bookstore-faults rules`, ci/mutation-score --cluster).
    static let alertRules: [Fault] = [
        Fault(
            "alert-high-error-rate-absolute-count",
            checks: ["ALERT-HIGHERRORRATE-QUIET-BELOW-THRESHOLD"],
            "HighErrorRate counts 5xx answers (more than 5 in five minutes) instead of their share of all answers",
            alertRules: ["HighErrorRate": #"sum by (job, service) (increase(http_requests_total{status=~"5.."}[5m])) > 5"#]
        ),
        Fault(
            "alert-service-down-never-fires",
            checks: ["ALERT-SERVICEDOWN-FIRES"],
            "ServiceDown selects a job no scrape target has (job=\"bookstore\"), so it can never fire",
            alertRules: ["ServiceDown": #"up{job="bookstore"} == 0"#]
        ),
    ]

    /// A HorizontalPodAutoscaler whose scale-down is switched off, planted in the manifests the local autoscaler
    /// follows (`bookstore-faults manifests`, ci/mutation-score --cluster).
    static let autoscaling: [Fault] = [
        Fault(
            "reviews-hpa-never-scales-down",
            service: reviews,
            checks: ["HPA-BOUNDS"],
            "the reviews HorizontalPodAutoscaler has behavior.scaleDown.selectPolicy Disabled: replicas never fall back",
            manifests: ["review-deployment.yml": { Self.disablingScaleDown(in: $0) }]
        )
    ]

    /// The manifests with `selectPolicy: Disabled` for the first `scaleDown:` block after `kind: HorizontalPodAutoscaler`.
    static func disablingScaleDown(in text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let hpa = lines.firstIndex(of: "kind: HorizontalPodAutoscaler"),
            let scaleDown = lines[hpa...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "scaleDown:" })
        else { return text }
        let indent = String(repeating: " ", count: lines[scaleDown].prefix { $0 == " " }.count + 2)
        if let policy = lines[(scaleDown + 1)...].prefix(while: { $0.hasPrefix(indent) }).firstIndex(where: {
            $0.trimmingCharacters(in: .whitespaces).hasPrefix("selectPolicy:")
        }) {
            lines[policy] = indent + "selectPolicy: Disabled"
        } else {
            lines.insert(indent + "selectPolicy: Disabled", at: scaleDown + 1)
        }
        return lines.joined(separator: "\n")
    }
}

extension FaultCatalogue {
    /// Readiness that does not follow the database: caught only where the suite can stop PostgreSQL (the local
    /// cluster's control API), so it runs in the cluster stage.
    static let readiness: [Fault] = [
        Fault(
            "users-ready-without-database",
            service: users,
            checks: ["FAILOVER-READINESS-FOLLOWS-DATABASE"],
            "the users service's readiness answers 200 READY whatever its database does",
            cluster: true
        ) { request, context, _, next in
            guard request.uri.path.hasSuffix("/health/ready") else { return try await next(request, context) }
            return Response.json(["status": "READY", "checks": ["database": "UP"]])
        }
    ]
}
