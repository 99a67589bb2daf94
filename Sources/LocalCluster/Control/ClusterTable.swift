import Foundation
import JSONKit

/// The control API's answers as the text tables `bookstore cluster status` and `bookstore cluster hpa` print.
public enum ClusterTable {
    /// `REPLICA PORT PID STATUS RESTARTS`, one line per replica of `GET /replicas` (absent or null values as `-`; a
    /// paused replica's status is `paused`).
    public static func replicas(_ replicas: JSON) -> [String] {
        func column(_ value: JSON?, _ width: Int) -> String {
            let text: String = value == nil || value == .null ? "-" : (value?.stringValue ?? value?.description ?? "-")
            return text.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        var lines = ["REPLICA              PORT   PID      STATUS    RESTARTS"]
        for replica in replicas.arrayValue ?? [] {
            let line: String =
                column(replica["id"], 20) + " " + column(replica["port"], 6) + " " + column(replica["pid"], 8) + " "
                + column(replica["paused"] == .bool(true) ? "paused" : replica["status"], 9) + " " + column(replica["restarts"], 4)
            lines.append(line)
        }
        return lines
    }

    /// `NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS DESIRED`, like `kubectl get hpa`, one line per item of
    /// `GET /autoscalers`.
    public static func autoscalers(_ list: JSON) -> [String] {
        var lines = ["NAME                         REFERENCE                         TARGETS              MINPODS  MAXPODS  REPLICAS  DESIRED"]
        for item in list["items"]?.arrayValue ?? [] {
            let spec = item["spec"]
            let status = item["status"]
            let targets = (spec?["metrics"]?.arrayValue ?? []).map { metric -> String in
                let name = metric["resource"]?["name"]?.stringValue ?? "?"
                let current = (status?["currentMetrics"]?.arrayValue ?? []).first { $0["resource"]?["name"]?.stringValue == name }
                let seen = current?["resource"]?["current"]?["averageUtilization"]?.intValue.map { "\($0)%" } ?? "<unknown>"
                return "\(name): \(seen)/\(metric["resource"]?["target"]?["averageUtilization"]?.intValue ?? 0)%"
            }
            let columns: [(String, Int)] = [
                (item["metadata"]?["name"]?.stringValue ?? "?", 28),
                ("Deployment/" + (spec?["scaleTargetRef"]?["name"]?.stringValue ?? "?"), 33),
                (targets.joined(separator: ", "), 20),
                (String(spec?["minReplicas"]?.intValue ?? 0), 8),
                (String(spec?["maxReplicas"]?.intValue ?? 0), 8),
                (String(status?["currentReplicas"]?.intValue ?? 0), 9),
                (String(status?["desiredReplicas"]?.intValue ?? 0), 7),
            ]
            lines.append(columns.map { $0.0.padding(toLength: max($0.1, $0.0.count), withPad: " ", startingAt: 0) }.joined(separator: " "))
        }
        return lines
    }
}
