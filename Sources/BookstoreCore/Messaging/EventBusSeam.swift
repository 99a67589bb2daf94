/// A seam for test harnesses, the event-bus twin of ``MiddlewareSeam``: a wrapper put around the bus a service
/// publishes and consumes through. The planted-defect harness (`bookstore-faults`, a test-only executable) sets it
/// for the task that builds a service, to plant a messaging defect (a wrong payload, a lost event, a poison message
/// acknowledged); production code never does, so it is nil and the bus is used as built.
public enum EventBusSeam {
    public typealias Provider = @Sendable (_ serviceName: String, _ bus: any EventBus) -> any EventBus

    @TaskLocal public static var wrap: Provider?

    /// `bus` as the service named `serviceName` must see it: wrapped when a provider is set.
    public static func apply(to bus: any EventBus, serviceName: String) -> any EventBus {
        guard let wrap = Self.wrap else { return bus }
        return wrap(serviceName, bus)
    }
}
