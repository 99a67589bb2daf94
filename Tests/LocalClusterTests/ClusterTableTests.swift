import JSONKit
import LocalCluster
import Testing

@Suite struct ClusterTableTests {
    @Test func replicasAreOneLineEachWithDashesForMissingValues() throws {
        let replicas = try JSON.parse(
            #"[{"id":"users-1","port":9101,"pid":4242,"status":"ready","restarts":0},{"id":"payments-python-2","port":9202,"pid":null,"status":"stopped","restarts":3}]"#
        )
        #expect(
            ClusterTable.replicas(replicas) == [
                "REPLICA              PORT   PID      STATUS    RESTARTS",
                "users-1              9101   4242     ready     0   ",
                "payments-python-2    9202   -        stopped   3   ",
            ]
        )
        #expect(ClusterTable.replicas(.null) == ["REPLICA              PORT   PID      STATUS    RESTARTS"])
    }

    @Test func aPausedReplicaIsShownAsPaused() throws {
        let replicas = try JSON.parse(#"[{"id":"reviews-2","port":5003,"pid":9,"status":"unready","restarts":0,"paused":true}]"#)
        #expect(ClusterTable.replicas(replicas)[1] == "reviews-2            5003   9        paused    0   ")
    }

    @Test func theColumnsOfTheStatusTableAreWhatCiLocalClusterReads() throws {
        // ci/local-cluster waits with `awk 'NR > 1 && $4 != "ready"'`: the fourth field is the status.
        let replicas = try JSON.parse(#"[{"id":"reviews-1","port":9301,"pid":7,"status":"starting","restarts":1}]"#)
        let fields = ClusterTable.replicas(replicas)[1].split(separator: " ")
        #expect(fields.count == 5)
        #expect(fields[3] == "starting")
    }

    @Test func autoscalersAreListedLikeKubectlGetHPA() throws {
        let list = try JSON.parse(
            #"""
            {"items":[{"metadata":{"name":"users-service-hpa"},
              "spec":{"scaleTargetRef":{"name":"users-service"},"minReplicas":2,"maxReplicas":10,
                "metrics":[{"resource":{"name":"cpu","target":{"averageUtilization":70}}},
                           {"resource":{"name":"memory","target":{"averageUtilization":80}}}]},
              "status":{"currentReplicas":2,"desiredReplicas":3,
                "currentMetrics":[{"resource":{"name":"cpu","current":{"averageUtilization":91}}}]}}]}
            """#
        )
        let lines = ClusterTable.autoscalers(list)
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("NAME                         REFERENCE"))
        #expect(
            lines[1]
                == "users-service-hpa            Deployment/users-service          cpu: 91%/70%, memory: <unknown>/80% 2        10       2         3      "
        )
        #expect(ClusterTable.autoscalers(["items": []]).count == 1)
    }
}
