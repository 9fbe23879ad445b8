import Foundation

/// Hand-designed baseline families a practitioner would try before a search (docs/baselines.md):
/// `refnet` scaled in width and a small MobileNetV2-style network. Each is named `FAMILY-wWIDTH`
/// (`refnet-w1.5`, `mbv2-w0.5`); `refnet` at width 1 is `BuiltinArchitectures.refnet` itself.
public enum BaselineArchitectures {
    public enum Family: String, CaseIterable, Codable, Sendable {
        /// `BuiltinArchitectures.refnet` with every layer's channels times the width.
        case refnet
        /// MobileNetV2-style: conv3x3 -> inverted-residual blocks -> conv1x1 (see `mobileNetV2`).
        case mbv2
    }

    /// Widths `autoshrink baselines` trains by default.
    public static func defaultWidths(_ family: Family) -> [Double] {
        switch family {
        case .refnet: return [0.5, 1, 1.5, 2, 3]
        case .mbv2: return [0.5, 0.75, 1, 1.5]
        }
    }

    /// Widths a name may carry: bounded so channels stay positive and sizes modest.
    public static let widthRange: ClosedRange<Double> = 0.125...8

    /// `FAMILY-wWIDTH` with the shortest decimal width (`refnet-w1.5`, `mbv2-w0.75`); `refnet` at width 1.
    public static func name(_ family: Family, width: Double) -> String {
        if family == .refnet && width == 1 { return "refnet" }
        return "\(family.rawValue)-w\(String(format: "%g", width))"
    }

    /// Every default baseline's name, family by family.
    public static var names: [String] {
        Family.allCases.flatMap { family in defaultWidths(family).map { name(family, width: $0) } }
    }

    /// (family, width) of a baseline name `FAMILY-wWIDTH` (also `refnet-w1`), or nil. The width must
    /// be in `widthRange` and written as `name(_:width:)` writes it (no `0.50`, no `1e0`).
    public static func parse(_ name: String) -> (family: Family, width: Double)? {
        for family in Family.allCases {
            let prefix = family.rawValue + "-w"
            guard name.hasPrefix(prefix), let width = Double(name.dropFirst(prefix.count)),
                  widthRange.contains(width), String(format: "%g", width) == String(name.dropFirst(prefix.count)) else { continue }
            return (family, width)
        }
        return nil
    }

    /// The baseline architecture named `name` (see `parse`), or nil.
    public static func architecture(named name: String, input: InputShape = InputShape(channels: 1, height: 28, width: 28),
                                    classes: Int = 10) -> Architecture? {
        guard let (family, width) = parse(name) else { return nil }
        return architecture(family, width: width, input: input, classes: classes)
    }

    public static func architecture(_ family: Family, width: Double, input: InputShape = InputShape(channels: 1, height: 28, width: 28),
                                    classes: Int = 10) -> Architecture {
        switch family {
        case .refnet: return refnet(width: width, input: input, classes: classes)
        case .mbv2: return mobileNetV2(width: width, input: input, classes: classes)
        }
    }

    /// `refnet` with every layer's output channels times `width` (rounded, at least 1); at width 1 it
    /// is `BuiltinArchitectures.refnet` exactly (same name, same hash).
    public static func refnet(width: Double, input: InputShape = InputShape(channels: 1, height: 28, width: 28),
                              classes: Int = 10) -> Architecture {
        var architecture = BuiltinArchitectures.refnet(input: input, classes: classes)
        guard width != 1 else { return architecture }
        architecture.name = name(.refnet, width: width)
        for index in architecture.stem.indices {
            architecture.stem[index].outputChannels = max(1, Int((Double(architecture.stem[index].outputChannels) * width).rounded()))
        }
        return architecture
    }

    /// A small MobileNetV2-style network for 28x28 / 32x32 images (channels times `width`, rounded to a
    /// multiple of 4, at least 4; expansion 6 as in MobileNetV2 except the first block's 1):
    /// conv3x3(16, ReLU6) -> IR(t1, 16, s2) -> IR(t6, 24) x2 -> IR(t6, 32, s2) -> IR(t6, 32)
    /// -> IR(t6, 64) -> conv1x1(128, ReLU6) -> global average pool -> linear.
    /// Spatial: 28 -> 14 (first block) -> 7, like refnet.
    public static func mobileNetV2(width: Double, input: InputShape = InputShape(channels: 1, height: 28, width: 28),
                                   classes: Int = 10) -> Architecture {
        func channels(_ base: Int) -> Int { max(4, Int((Double(base) * width / 4).rounded()) * 4) }
        return Architecture(name: name(.mbv2, width: width), input: input, classes: classes, stem: [
            StemLayer(.conv, outputChannels: channels(16), kernel: 3, stride: 1, activation: .relu6),
            .invertedResidual(outputChannels: channels(16), expansion: 1, stride: 2),
            .invertedResidual(outputChannels: channels(24), expansion: 6),
            .invertedResidual(outputChannels: channels(24), expansion: 6),
            .invertedResidual(outputChannels: channels(32), expansion: 6, stride: 2),
            .invertedResidual(outputChannels: channels(32), expansion: 6),
            .invertedResidual(outputChannels: channels(64), expansion: 6),
            StemLayer(.conv, outputChannels: channels(128), kernel: 1, stride: 1, activation: .relu6),
        ])
    }
}
