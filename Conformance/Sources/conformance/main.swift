import ConformanceKit

@main
struct Main {
    static func main() {}
}
