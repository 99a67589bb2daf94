/// A growable FIFO queue backed by a ring buffer.
///
/// Inlinable so that the modules using it (the loop's connect queue, the load engine's request queue) get it
/// specialised for their element type.
public struct RingBuffer<Element> {
    @usableFromInline var storage: [Element?] = []
    @usableFromInline var head = 0
    @usableFromInline var _count = 0

    @inlinable public var count: Int { _count }

    @inlinable public init() {}

    @inlinable public var isEmpty: Bool { _count == 0 }

    @inlinable public mutating func append(_ element: Element) {
        if _count == storage.count { grow() }
        storage[(head + _count) & (storage.count - 1)] = element
        _count += 1
    }

    @inlinable public var first: Element? {
        _count == 0 ? nil : storage[head]
    }

    @inlinable public mutating func popFirst() -> Element? {
        guard _count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) & (storage.count - 1)
        _count -= 1
        return element
    }

    @inlinable public mutating func removeAll() {
        storage = []
        head = 0
        _count = 0
    }

    @inlinable mutating func grow() {
        let newCapacity = max(16, storage.count * 2)
        var newStorage = [Element?](repeating: nil, count: newCapacity)
        for index in 0..<_count {
            newStorage[index] = storage[(head + index) & (storage.count - 1)]
        }
        storage = newStorage
        head = 0
    }
}
