import AutoShrinkEngine

/// Architectures shipped with the tool, addressable by name on the command line.
public enum BuiltinArchitectures {
    /// Names accepted by `architecture(named:)`: these, the baselines' (`BaselineArchitectures.names`)
    /// and any other `refnet-wX` / `mbv2-wX` width (`BaselineArchitectures.parse`).
    public static let names = ["refnet", "shrinkcnn-full"] + BaselineArchitectures.names.filter { $0 != "refnet" }

    /// `refnet`, our yardstick against other engines (keep it exactly so):
    /// conv3x3(1->16,s1) conv3x3(16->32,s2) dw3x3(32) conv1x1(32->64) dw3x3(64,s2) conv1x1(64->128),
    /// each -> BN -> ReLU, no conv bias, padding k/2; global average pool; linear(128->10).
    public static func refnet(input: InputShape = InputShape(channels: 1, height: 28, width: 28), classes: Int = 10) -> Architecture {
        Architecture(name: "refnet", input: input, classes: classes, stem: [
            StemLayer(.conv, outputChannels: 16, kernel: 3, stride: 1),
            StemLayer(.conv, outputChannels: 32, kernel: 3, stride: 2),
            StemLayer(.depthwise, outputChannels: 32, kernel: 3, stride: 1),
            StemLayer(.conv, outputChannels: 64, kernel: 1, stride: 1),
            StemLayer(.depthwise, outputChannels: 64, kernel: 3, stride: 2),
            StemLayer(.conv, outputChannels: 128, kernel: 1, stride: 1),
        ])
    }

    /// The AutoShrink proxy network (docs/algorithm.md §1) around `cell`: stem conv3x3 (32 ch) ->
    /// 3 stages x `cellsPerStage` cells, widths 16/32/64 (scales 1,2,4 of `baseWidth`), pooling 1,2,2
    /// -> global average pool -> linear. Equal to `shrinkCNN(cell:skeleton: .reference(...))`.
    public static func shrinkCNN(cell: CellDAG, name: String = "shrinkcnn", baseWidth: Int = 16, cellsPerStage: Int = 1,
                                 input: InputShape = InputShape(channels: 1, height: 28, width: 28), classes: Int = 10) -> Architecture {
        shrinkCNN(cell: cell, name: name, skeleton: .reference(baseWidth: baseWidth, cellsPerStage: cellsPerStage),
                  input: input, classes: classes)
    }

    /// The proxy network around `cell` on any macro skeleton (docs/algorithm.md §1, "Macro skeleton"):
    /// [conv3x3 (`preStemChannels`) ->] stem conv3x3 (`stemChannels`, `stemStride`) -> the skeleton's stages
    /// -> global average pool -> linear.
    public static func shrinkCNN(cell: CellDAG, name: String = "shrinkcnn", skeleton: MacroSkeleton,
                                 input: InputShape = InputShape(channels: 1, height: 28, width: 28), classes: Int = 10) -> Architecture {
        Architecture(name: name, input: input, classes: classes,
                     stem: skeleton.stemLayers,
                     cell: cell, stages: skeleton.stages)
    }

    /// Node operations for an N-node cell: node 0 input, nodes 1..N-1 an alternating
    /// SepConv3x3 / Conv1x1 list shuffled with `seed` (about half of each).
    public static func nodeOperations(nodes: Int, seed: UInt64) -> [NodeOperation] {
        var operations: [NodeOperation] = (1..<nodes).map { $0 % 2 == 1 ? .sepconv3x3 : .conv1x1 }
        var generator = SplitMix64(seed: seed)
        if operations.count > 1 {
            for i in stride(from: operations.count - 1, to: 0, by: -1) {
                let j = Int(generator.next() % UInt64(i + 1))
                operations.swapAt(i, j)
            }
        }
        return [.input] + operations
    }

    /// A built-in architecture by name (`refnet`, `shrinkcnn-full` = the 8-node full proxy net, the
    /// baselines `refnet-wX` and `mbv2-wX` of docs/baselines.md).
    public static func architecture(named name: String, input: InputShape = InputShape(channels: 1, height: 28, width: 28),
                                    classes: Int = 10) -> Architecture? {
        switch name {
        case "refnet": return refnet(input: input, classes: classes)
        case "shrinkcnn-full":
            return shrinkCNN(cell: .fullyConnected(operations: nodeOperations(nodes: 8, seed: 0)), name: name,
                             input: input, classes: classes)
        default: return BaselineArchitectures.architecture(named: name, input: input, classes: classes)
        }
    }
}
