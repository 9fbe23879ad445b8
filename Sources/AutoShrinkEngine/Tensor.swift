import Foundation

/// Owned float32 storage, 64-byte aligned, zero-initialised. Reference type so that layers,
/// optimizers and checkpoints share one buffer without copies.
public final class Tensor: @unchecked Sendable {
    public let count: Int
    public let data: UnsafeMutablePointer<Float>
    /// Logical shape (for checkpoints and messages); `count` is its product.
    public let shape: [Int]

    public init(shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        memset(raw, 0, bytes)
        data = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "tensor of shape \(shape) needs \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { free(data) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }
    public var array: [Float] { Array(buffer) }

    public func zero() { memset(data, 0, count * MemoryLayout<Float>.stride) }
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }
    public func copy(from other: Tensor) {
        precondition(other.count == count)
        data.update(from: other.data, count: count)
    }
}

/// A batch of feature maps in the engine's activation layout, **CNHW** (channel-major):
/// element (c, n, y, x) is at `data[((c * batch + n) * height + y) * width + x]`.
///
/// Why channel-major rather than NCHW: a 1x1 convolution over the whole batch is then one GEMM
/// `W[Cout, Cin] x X[Cin, N*H*W]`, im2col of the batch feeds one large GEMM whose result is
/// already the output, batch norm statistics of a channel are one contiguous run, and channel
/// concat is a copy of contiguous row blocks. For one-channel input (Fashion-MNIST) NCHW and
/// CNHW coincide; images are transposed on entry otherwise.
public struct FeatureMap {
    public var data: UnsafeMutablePointer<Float>
    public var channels: Int
    public var batch: Int
    public var height: Int
    public var width: Int

    public init(data: UnsafeMutablePointer<Float>, channels: Int, batch: Int, height: Int, width: Int) {
        self.data = data; self.channels = channels; self.batch = batch; self.height = height; self.width = width
    }
    /// height * width: one image's plane of one channel.
    @inline(__always) public var plane: Int { height * width }
    /// batch * plane: distance between channels.
    @inline(__always) public var channelStride: Int { batch * height * width }
    @inline(__always) public var count: Int { channels * batch * height * width }
    @inline(__always) public func channel(_ c: Int) -> UnsafeMutablePointer<Float> { data + c * channelStride }
}

/// Per-image shape of a graph value: channels x height x width.
public struct ValueShape: Hashable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int
    public init(channels: Int, height: Int, width: Int) { self.channels = channels; self.height = height; self.width = width }
    public var elements: Int { channels * height * width }
    public var description: String { "\(channels)x\(height)x\(width)" }
}

/// A trainable tensor with its gradient. `decay` says whether weight decay applies
/// (convolution and linear weights; not batch-norm affine parameters or biases).
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let value: Tensor
    public let gradient: Tensor
    public let decay: Bool

    public init(name: String, shape: [Int], decay: Bool) {
        self.name = name
        value = Tensor(shape: shape)
        gradient = Tensor(shape: shape)
        self.decay = decay
    }
}
