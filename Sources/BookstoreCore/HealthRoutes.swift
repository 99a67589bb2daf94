import Hummingbird
import JSONKit

extension ServiceRouter {
    /// The health routes of the Flask/Spring-style services: `GET {base}` (`{status:"healthy", service, version}`),
    /// `{base}/live` (`{status:"UP"}`, never touches dependencies) and `{base}/ready` (`{status:"READY"|"NOT_READY",
    /// checks}`, 503 when a dependency is down or the service is draining).
    public func addHealthRoutes(base: String, serviceName: String, version: String, readiness: Readiness) {
        self.get(RouterPath(base)) { _, _ in
            Response.json(["status": "healthy", "service": .string(serviceName), "version": .string(version)])
        }
        self.get(RouterPath(base + "/live")) { _, _ in Response.json(["status": "UP"]) }
        self.get(RouterPath(base + "/ready")) { _, _ in
            let (ready, checks) = await readiness.evaluate()
            var object = JSONObject()
            for check in checks { object[check.name] = .string(check.up ? "UP" : "DOWN") }
            return Response.json(
                ["status": .string(ready ? "READY" : "NOT_READY"), "checks": .object(object)],
                status: ready ? .ok : .serviceUnavailable
            )
        }
    }

    /// Spring Boot actuator health routes: `/actuator/health` (`{status, components}`), `/liveness`, `/readiness`.
    public func addActuatorHealthRoutes(readiness: Readiness) {
        self.get("/actuator/health") { _, _ in
            let (ready, checks) = await readiness.evaluate()
            var components = JSONObject()
            for check in checks { components[check.name] = ["status": .string(check.up ? "UP" : "DOWN")] }
            return Response.json(
                ["status": .string(ready ? "UP" : "DOWN"), "components": .object(components)],
                status: ready ? .ok : .serviceUnavailable
            )
        }
        self.get("/actuator/health/liveness") { _, _ in Response.json(["status": "UP"]) }
        self.get("/actuator/health/readiness") { _, _ in
            let (ready, _) = await readiness.evaluate()
            return Response.json(["status": .string(ready ? "UP" : "OUT_OF_SERVICE")], status: ready ? .ok : .serviceUnavailable)
        }
    }
}
