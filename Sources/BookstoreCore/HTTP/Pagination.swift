import Hummingbird
import HummingbirdCore

/// A validated page request.
public struct PageRequest: Sendable, Equatable {
    /// The highest page number accepted (the contracts say `maximum: 1000000`).
    public static let maxPage = 1_000_000

    public var page: Int
    public var limit: Int

    public init(page: Int, limit: Int) {
        self.page = page
        self.limit = limit
    }

    /// Reads an integer page and size from the query string.
    /// - Parameters:
    ///   - pageKey: the page parameter (`page`).
    ///   - limitKey: the size parameter (`limit` or `size`).
    ///   - firstPage: 1 for 1-based services, 0 for Spring-style 0-based pages.
    public static func parse(
        _ uri: URI,
        pageKey: String = "page",
        limitKey: String = "limit",
        firstPage: Int = 1,
        defaultLimit: Int = 20,
        maxLimit: Int = 100
    ) throws(APIError) -> PageRequest {
        let query = uri.queryParameters
        var page = firstPage
        var limit = defaultLimit
        if let raw = query[pageKey[...]] {
            guard let value = Int(raw), value >= firstPage, value <= Self.maxPage else {
                throw APIError.validation([
                    FieldError(field: pageKey, message: "\(pageKey) must be an integer between \(firstPage) and \(Self.maxPage)")
                ])
            }
            page = value
        }
        if let raw = query[limitKey[...]] {
            guard let value = Int(raw), (1...maxLimit).contains(value) else {
                throw APIError.validation([FieldError(field: limitKey, message: "\(limitKey) must be an integer between 1 and \(maxLimit)")])
            }
            limit = value
        }
        return PageRequest(page: page, limit: limit)
    }

    /// The number of items to skip.
    public func offset(firstPage: Int = 1) -> Int { (self.page - firstPage) * self.limit }
}
