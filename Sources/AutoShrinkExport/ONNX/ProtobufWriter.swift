// Protocol Buffers wire format, write side only: enough to serialise ONNX models without a
// protobuf library. A message is a sequence of fields; each field starts with a tag
// varint `(fieldNumber << 3) | wireType` followed by its payload:
//
//     wire type 0 (varint)            int32/int64/uint64/bool/enum, 7 bits per byte, low group first
//     wire type 1 (fixed64)           8 bytes little-endian (double)
//     wire type 2 (length-delimited)  varint byte count + bytes (string, bytes, sub-message, packed list)
//     wire type 5 (fixed32)           4 bytes little-endian (float)
//
// Negative int32/int64 values are sign-extended to 64 bits, so they always take 10 bytes.

/// Protobuf wire types used by the writer.
public enum ProtobufWireType: UInt64, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// Appends protobuf fields to a byte buffer; nested messages are written into their own writer
/// and added with `message(_:_:)`.
public struct ProtobufWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// The varint encoding of `value` (e.g. 300 -> ac 02).
    public static func varint(_ value: UInt64) -> [UInt8] {
        var output: [UInt8] = []
        var remaining = value
        while remaining >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        output.append(UInt8(remaining))
        return output
    }

    /// Appends a raw varint (no tag).
    public mutating func appendVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    /// Appends a field tag.
    public mutating func tag(_ field: Int, _ wireType: ProtobufWireType) {
        precondition(field > 0 && field < 1 << 29, "protobuf field numbers are 1 ..< 2^29")
        appendVarint(UInt64(field) << 3 | wireType.rawValue)
    }

    /// int64 / int32 / enum field (negative values sign-extended to 10 bytes).
    public mutating func int64(_ field: Int, _ value: Int64) {
        tag(field, .varint)
        appendVarint(UInt64(bitPattern: value))
    }

    /// uint64 / bool field.
    public mutating func uint64(_ field: Int, _ value: UInt64) {
        tag(field, .varint)
        appendVarint(value)
    }

    /// float field (fixed32, IEEE 754 little-endian).
    public mutating func float(_ field: Int, _ value: Float) {
        tag(field, .fixed32)
        appendFixed32(value.bitPattern)
    }

    /// double field (fixed64, IEEE 754 little-endian).
    public mutating func double(_ field: Int, _ value: Double) {
        tag(field, .fixed64)
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }

    /// bytes field.
    public mutating func byteString(_ field: Int, _ payload: [UInt8]) {
        tag(field, .lengthDelimited)
        appendVarint(UInt64(payload.count))
        bytes.append(contentsOf: payload)
    }

    /// string field (UTF-8).
    public mutating func string(_ field: Int, _ value: String) {
        byteString(field, Array(value.utf8))
    }

    /// Embedded message field.
    public mutating func message(_ field: Int, _ message: ProtobufWriter) {
        byteString(field, message.bytes)
    }

    /// Embedded message field built by `build`.
    public mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var nested = ProtobufWriter()
        build(&nested)
        message(field, nested)
    }

    /// Packed repeated float field: one length-delimited payload of 4-byte floats.
    public mutating func packedFloats(_ field: Int, _ values: [Float]) {
        tag(field, .lengthDelimited)
        appendVarint(UInt64(values.count * 4))
        for value in values { appendFixed32(value.bitPattern) }
    }

    /// Packed repeated int64 field: one length-delimited payload of varints.
    public mutating func packedInt64s(_ field: Int, _ values: [Int64]) {
        var payload = ProtobufWriter()
        for value in values { payload.appendVarint(UInt64(bitPattern: value)) }
        byteString(field, payload.bytes)
    }

    private mutating func appendFixed32(_ bits: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: bits))
        bytes.append(UInt8(truncatingIfNeeded: bits >> 8))
        bytes.append(UInt8(truncatingIfNeeded: bits >> 16))
        bytes.append(UInt8(truncatingIfNeeded: bits >> 24))
    }
}
