// An in-memory subset of ONNX (onnx.proto, IR version 8) and its serialisation with
// `ProtobufWriter`. Field numbers are those of onnx.proto (named in each `encoded()`); fields are
// written in a fixed order that need not follow the numbers, which protobuf parsers accept.
// Repeated integers are written packed, which proto2 parsers accept for unpacked fields too.

/// ONNX tensor element types (`TensorProto.DataType`).
public enum ONNXDataType: Int64, Sendable {
    case float = 1
    case uint8 = 2
    case int8 = 3
    case int32 = 6
    case int64 = 7

    /// Bytes per element in `raw_data`.
    public var byteWidth: Int {
        switch self {
        case .float, .int32: return 4
        case .uint8, .int8: return 1
        case .int64: return 8
        }
    }
}

/// A constant tensor (graph initializer): `dims` row-major, values as little-endian `raw_data`.
public struct ONNXTensor: Sendable, Equatable {
    public var name: String
    public var dataType: ONNXDataType
    public var dims: [Int]
    public var rawData: [UInt8]

    public init(name: String, dataType: ONNXDataType, dims: [Int], rawData: [UInt8]) {
        precondition(rawData.count == dims.reduce(1, *) * dataType.byteWidth, "\(name): raw data does not match dims")
        self.name = name; self.dataType = dataType; self.dims = dims; self.rawData = rawData
    }

    /// float32 tensor of shape `dims` (empty dims: a scalar).
    public static func float(_ name: String, dims: [Int], _ values: [Float]) -> ONNXTensor {
        var raw: [UInt8] = []
        raw.reserveCapacity(values.count * 4)
        for value in values { appendLittleEndian(&raw, value.bitPattern) }
        return ONNXTensor(name: name, dataType: .float, dims: dims, rawData: raw)
    }

    /// int8 tensor of shape `dims`.
    public static func int8(_ name: String, dims: [Int], _ values: [Int8]) -> ONNXTensor {
        ONNXTensor(name: name, dataType: .int8, dims: dims, rawData: values.map { UInt8(bitPattern: $0) })
    }

    /// uint8 tensor of shape `dims`.
    public static func uint8(_ name: String, dims: [Int], _ values: [UInt8]) -> ONNXTensor {
        ONNXTensor(name: name, dataType: .uint8, dims: dims, rawData: values)
    }

    /// int32 tensor of shape `dims`.
    public static func int32(_ name: String, dims: [Int], _ values: [Int32]) -> ONNXTensor {
        var raw: [UInt8] = []
        raw.reserveCapacity(values.count * 4)
        for value in values { appendLittleEndian(&raw, UInt32(bitPattern: value)) }
        return ONNXTensor(name: name, dataType: .int32, dims: dims, rawData: raw)
    }

    /// int64 tensor of shape `dims`.
    public static func int64(_ name: String, dims: [Int], _ values: [Int64]) -> ONNXTensor {
        var raw: [UInt8] = []
        raw.reserveCapacity(values.count * 8)
        for value in values { appendLittleEndian(&raw, UInt64(bitPattern: value)) }
        return ONNXTensor(name: name, dataType: .int64, dims: dims, rawData: raw)
    }

    /// `TensorProto`: dims = 1, data_type = 2, name = 8, raw_data = 9.
    func encoded() -> ProtobufWriter {
        var writer = ProtobufWriter()
        if !dims.isEmpty { writer.packedInt64s(1, dims.map(Int64.init)) }
        writer.int64(2, dataType.rawValue)
        writer.string(8, name)
        writer.byteString(9, rawData)
        return writer
    }
}

/// A node attribute value (`AttributeProto`).
public enum ONNXAttributeValue: Sendable, Equatable {
    case float(Float)
    case int(Int)
    case string(String)
    case ints([Int])
    case floats([Float])
}

/// One named attribute of a node.
public struct ONNXAttribute: Sendable, Equatable {
    public var name: String
    public var value: ONNXAttributeValue
    public init(_ name: String, _ value: ONNXAttributeValue) { self.name = name; self.value = value }

    /// `AttributeProto`: name = 1, f = 2, i = 3, s = 4, floats = 7, ints = 8, type = 20
    /// (FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7).
    func encoded() -> ProtobufWriter {
        var writer = ProtobufWriter()
        writer.string(1, name)
        switch value {
        case .float(let value):
            writer.float(2, value); writer.int64(20, 1)
        case .int(let value):
            writer.int64(3, Int64(value)); writer.int64(20, 2)
        case .string(let value):
            writer.string(4, value); writer.int64(20, 3)
        case .floats(let values):
            writer.packedFloats(7, values); writer.int64(20, 6)
        case .ints(let values):
            writer.packedInt64s(8, values.map(Int64.init)); writer.int64(20, 7)
        }
        return writer
    }
}

/// One operator application (`NodeProto`); `domain` empty is the default ONNX domain.
public struct ONNXNode: Sendable, Equatable {
    public var name: String
    public var operatorType: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [ONNXAttribute]
    public var domain: String

    public init(name: String, operatorType: String, inputs: [String], outputs: [String],
                attributes: [ONNXAttribute] = [], domain: String = "") {
        self.name = name; self.operatorType = operatorType; self.inputs = inputs; self.outputs = outputs
        self.attributes = attributes; self.domain = domain
    }

    /// `NodeProto`: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7.
    func encoded() -> ProtobufWriter {
        var writer = ProtobufWriter()
        for input in inputs { writer.string(1, input) }
        for output in outputs { writer.string(2, output) }
        writer.string(3, name)
        writer.string(4, operatorType)
        for attribute in attributes { writer.message(5, attribute.encoded()) }
        if !domain.isEmpty { writer.string(7, domain) }
        return writer
    }
}

/// A graph input or output: name, element type and shape (a dimension is a size or a symbolic name).
public struct ONNXValueInfo: Sendable, Equatable {
    public enum Dimension: Sendable, Equatable {
        case size(Int)
        case symbol(String)
    }
    public var name: String
    public var elementType: ONNXDataType
    public var shape: [Dimension]

    public init(name: String, elementType: ONNXDataType, shape: [Dimension]) {
        self.name = name; self.elementType = elementType; self.shape = shape
    }

    /// `ValueInfoProto` { name = 1, type = 2: `TypeProto` { tensor_type = 1: { elem_type = 1,
    /// shape = 2: `TensorShapeProto` { dim = 1: { dim_value = 1 | dim_param = 2 } } } } }.
    func encoded() -> ProtobufWriter {
        var writer = ProtobufWriter()
        writer.string(1, name)
        writer.message(2) { type in
            type.message(1) { tensor in
                tensor.int64(1, elementType.rawValue)
                tensor.message(2) { tensorShape in
                    for dimension in shape {
                        tensorShape.message(1) { entry in
                            switch dimension {
                            case .size(let size): entry.int64(1, Int64(size))
                            case .symbol(let symbol): entry.string(2, symbol)
                            }
                        }
                    }
                }
            }
        }
        return writer
    }
}

/// A computation graph: nodes in topological order over named values.
public struct ONNXGraph: Sendable, Equatable {
    public var name: String
    public var nodes: [ONNXNode] = []
    public var initializers: [ONNXTensor] = []
    public var inputs: [ONNXValueInfo] = []
    public var outputs: [ONNXValueInfo] = []
    public var documentation: String = ""

    public init(name: String) { self.name = name }

    /// `GraphProto`: node = 1, name = 2, initializer = 5, doc_string = 10, input = 11, output = 12.
    func encoded() -> ProtobufWriter {
        var writer = ProtobufWriter()
        for node in nodes { writer.message(1, node.encoded()) }
        writer.string(2, name)
        for initializer in initializers { writer.message(5, initializer.encoded()) }
        if !documentation.isEmpty { writer.string(10, documentation) }
        for input in inputs { writer.message(11, input.encoded()) }
        for output in outputs { writer.message(12, output.encoded()) }
        return writer
    }
}

/// A whole model file (`ModelProto`).
public struct ONNXModel: Sendable, Equatable {
    public static let irVersion = 8
    public static let defaultOpset = 13

    public var graph: ONNXGraph
    public var producerName = "autoshrink"
    public var producerVersion: String
    public var documentation: String = ""
    /// Operator sets by domain ("" is the default ONNX domain).
    public var opsets: [(domain: String, version: Int)] = [("", ONNXModel.defaultOpset)]
    /// Free-form key/value pairs (`metadata_props`), in order.
    public var metadata: [(key: String, value: String)] = []

    public init(graph: ONNXGraph, producerVersion: String) {
        self.graph = graph; self.producerVersion = producerVersion
    }

    public static func == (a: ONNXModel, b: ONNXModel) -> Bool { a.serialized() == b.serialized() }

    /// The model as protobuf bytes: `ModelProto` { ir_version = 1, producer_name = 2,
    /// producer_version = 3, doc_string = 6, graph = 7, opset_import = 8: { domain = 1,
    /// version = 2 }, metadata_props = 14: { key = 1, value = 2 } }.
    public func serialized() -> [UInt8] {
        var writer = ProtobufWriter()
        writer.int64(1, Int64(ONNXModel.irVersion))
        writer.string(2, producerName)
        writer.string(3, producerVersion)
        if !documentation.isEmpty { writer.string(6, documentation) }
        writer.message(7, graph.encoded())
        for opset in opsets {
            writer.message(8) { entry in
                entry.string(1, opset.domain)
                entry.int64(2, Int64(opset.version))
            }
        }
        for (key, value) in metadata {
            writer.message(14) { entry in
                entry.string(1, key)
                entry.string(2, value)
            }
        }
        return writer.bytes
    }
}

private func appendLittleEndian<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
}
