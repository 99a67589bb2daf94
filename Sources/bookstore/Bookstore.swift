import ArgumentParser

/// The `bookstore` command: its subcommands live in `Commands/`, their logic in the libraries.
@main
struct Bookstore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bookstore",
        abstract: "The bookstore services: run one (`serve`) or all of them in one process (`up`).",
        subcommands: [Up.self, Serve.self, Cluster.self]
    )
}
