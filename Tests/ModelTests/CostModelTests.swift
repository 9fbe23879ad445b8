import Testing
@testable import AutoShrinkModel

// Hand counts. Conv MACs = outH*outW*outC*(inC/groups)*k*k; params = weights + 2*outC (BN gamma,
// beta); float32 bytes = 4*(weights + outC folded bias); int8 bytes = weights + 4*outC.

@Test func refnetHandCounts() {
    let cost = CostModel.costs(of: BuiltinArchitectures.refnet())
    // layer                     out        MACs                    params           f32 bytes         int8 bytes
    // stem0 conv3x3 1->16       16x28x28   784*16*9    = 112,896   144+32  =   176   (144+16)*4 =   640  144+64  =  208
    // stem1 conv3x3 16->32 /2   32x14x14   196*32*144  = 903,168   4608+64 = 4,672   (4608+32)*4=18,560  4608+128= 4,736
    // stem2 dw3x3 32            32x14x14   196*32*9    =  56,448   288+64  =   352   (288+32)*4 = 1,280  288+128 =   416
    // stem3 conv1x1 32->64      64x14x14   196*64*32   = 401,408   2048+128= 2,176   (2048+64)*4= 8,448  2048+256= 2,304
    // stem4 dw3x3 64 /2         64x7x7     49*64*9     =  28,224   576+128 =   704   (576+64)*4 = 2,560  576+256 =   832
    // stem5 conv1x1 64->128     128x7x7    49*128*64   = 401,408   8192+256= 8,448   (8192+128)*4=33,280 8192+512= 8,704
    // gap                       128x1x1    0                       0
    // linear 128->10            10x1x1     1,280                   1280+10 = 1,290   1290*4     = 5,160  1280+40 = 1,320
    let expected: [(String, Int, Int, Int, Int)] = [
        ("stem0", 112_896, 176, 640, 208), ("stem1", 903_168, 4_672, 18_560, 4_736),
        ("stem2", 56_448, 352, 1_280, 416), ("stem3", 401_408, 2_176, 8_448, 2_304),
        ("stem4", 28_224, 704, 2_560, 832), ("stem5", 401_408, 8_448, 33_280, 8_704),
        ("head.pool", 0, 0, 0, 0), ("head.linear", 1_280, 1_290, 5_160, 1_320),
    ]
    #expect(cost.layers.count == expected.count)
    for (layer, row) in zip(cost.layers, expected) {
        #expect(layer.name == row.0)
        #expect(layer.macs == row.1, "\(row.0) MACs")
        #expect(layer.parameters == row.2, "\(row.0) params")
        #expect(layer.weightBytesFloat32 == row.3, "\(row.0) f32 bytes")
        #expect(layer.weightBytesInt8 == row.4, "\(row.0) int8 bytes")
    }
    #expect(cost.macs == 1_904_832)
    #expect(cost.parameters == 17_818)
    #expect(cost.weightBytesFloat32 == 69_928)
    #expect(cost.weightBytesInt8 == 18_520)
    // A chain: step i holds its input and output. Elements:
    // stem0 784+12544=13,328; stem1 12544+6272=18,816; stem2 6272+6272=12,544; stem3 6272+12544=18,816;
    // stem4 12544+3136=15,680; stem5 3136+6272=9,408; gap 6272+128=6,400; linear 128+10=138.
    #expect(cost.liveElementsPerStep == [13_328, 18_816, 12_544, 18_816, 15_680, 9_408, 6_400, 138])
    #expect(cost.peakActivationElements == 18_816)
    #expect(cost.peakStep == 1)
    #expect(cost.peakActivationBytesFloat32 == 75_264)
    #expect(cost.peakActivationBytesInt8 == 18_816)
    #expect(cost.elementOperations == 6_272)  // the average pool sums 128x7x7
}

/// input 1x4x4 -> stem conv3x3(4) -> cell(width 2, pool 1) -> cell(width 4, pool 2) -> gap -> linear(2),
/// cell: node 1 conv1x1 <- 0; node 2 sepconv3x3 <- concat(0, 1); leaf: node 2.
private func threeNodeNetwork() -> Architecture {
    let cell = CellDAG(nodes: 3, operations: [.input, .conv1x1, .sepconv3x3], edges: [Edge(0, 1), Edge(0, 2), Edge(1, 2)])
    return Architecture(name: "three-node", input: InputShape(channels: 1, height: 4, width: 4), classes: 2,
                        stem: [StemLayer(.conv, outputChannels: 4, kernel: 3)], cell: cell,
                        stages: [Stage(width: 2, pool: 1), Stage(width: 4, pool: 2)])
}

@Test func threeNodeCellHandCounts() throws {
    let architecture = threeNodeNetwork()
    try architecture.validate()
    let graph = architecture.lowered()
    let cost = CostModel.costs(of: graph)
    // step layer                           tensor (elements)  MACs             params     f32     int8   elem ops
    //  0  stem0 conv3x3 1->4                t1 4x4x4 (64)      16*4*9   = 576   36+8 = 44  40*4=160 36+16=52
    //  1  cell0.node1.conv 1x1 4->2         t2 2x4x4 (32)      16*2*4   = 128   8+4  = 12  10*4=40  8+8=16
    //  2  cell0.node2.concat [t1,t2]        t3 6x4x4 (96)      0
    //  3  cell0.node2.depthwise dw3x3 6     t4 6x4x4 (96)      16*6*9   = 864   54+12= 66  60*4=240 54+24=78
    //  4  cell0.node2.pointwise 1x1 6->2    t5 2x4x4 (32)      16*2*6   = 192   12+4 = 16  14*4=56  12+8=20
    //  5  cell0.residual.projection 4->2    t6 2x4x4 (32)      16*2*4   = 128   8+4  = 12  40      16
    //  6  cell0.output.add [t5,t6]          t7 2x4x4 (32)      0                                          32
    //  7  cell1.node0.pool maxpool t7       t8 2x2x2 (8)       0                                          3*8=24
    //  8  cell1.node1.conv 1x1 2->4         t9 4x2x2 (16)      4*4*2    = 32    8+8  = 16  12*4=48  8+16=24
    //  9  cell1.node2.concat [t8,t9]        t10 6x2x2 (24)     0
    // 10  cell1.node2.depthwise dw3x3 6     t11 6x2x2 (24)     4*6*9    = 216   54+12= 66  240      78
    // 11  cell1.node2.pointwise 1x1 6->4    t12 4x2x2 (16)     4*4*6    = 96    24+8 = 32  28*4=112 24+16=40
    // 12  cell1.residual.projection 2->4/2  t13 4x2x2 (16)     4*4*2    = 32    8+8  = 16  48       24
    // 13  cell1.output.add [t12,t13]        t14 4x2x2 (16)     0                                          16
    // 14  head.pool gap                     t15 4x1x1 (4)      0                                          16
    // 15  head.linear 4->2                  t16 2x1x1 (2)      8                8+2  = 10  40       8+8=16
    let names = ["stem0", "cell0.node1.conv", "cell0.node2.concat", "cell0.node2.depthwise", "cell0.node2.pointwise",
                 "cell0.residual.projection", "cell0.output.add", "cell1.node0.pool", "cell1.node1.conv", "cell1.node2.concat",
                 "cell1.node2.depthwise", "cell1.node2.pointwise", "cell1.residual.projection", "cell1.output.add",
                 "head.pool", "head.linear"]
    #expect(cost.layers.map(\.name) == names)
    #expect(cost.layers.map(\.macs) == [576, 128, 0, 864, 192, 128, 0, 0, 32, 0, 216, 96, 32, 0, 0, 8])
    #expect(cost.layers.map(\.parameters) == [44, 12, 0, 66, 16, 12, 0, 0, 16, 0, 66, 32, 16, 0, 0, 10])
    #expect(cost.layers.map(\.weightBytesFloat32) == [160, 40, 0, 240, 56, 40, 0, 0, 48, 0, 240, 112, 48, 0, 0, 40])
    #expect(cost.layers.map(\.weightBytesInt8) == [52, 16, 0, 78, 20, 16, 0, 0, 24, 0, 78, 40, 24, 0, 0, 16])
    #expect(cost.layers.map(\.elementOperations) == [0, 0, 0, 0, 0, 0, 32, 24, 0, 0, 0, 0, 0, 16, 16, 0])
    #expect(cost.layers[2].outputShape == TensorShape(channels: 6, height: 4, width: 4))   // concat 4 + 2
    #expect(cost.layers[9].outputShape == TensorShape(channels: 6, height: 2, width: 2))   // concat 2 + 4
    #expect(cost.layers[12].operation == "conv1x1/2")
    #expect(cost.macs == 2_272)
    #expect(cost.parameters == 290)
    #expect(cost.weightBytesFloat32 == 1_024)
    #expect(cost.weightBytesInt8 == 364)
    #expect(cost.elementOperations == 88)
    // Liveness [first, last step]: t0 [0,0] t1 [0,5] (read by node1, the concat and the projection)
    // t2 [1,2] t3 [2,3] t4 [3,4] t5 [4,6] t6 [5,6] t7 [6,12] (read by the pool and the projection)
    // t8 [7,9] t9 [8,9] t10 [9,10] t11 [10,11] t12 [11,13] t13 [12,13] t14 [13,14] t15 [14,15] t16 [15,15].
    // step 0: 16+64=80   1: 64+32=96   2: 64+32+96=192   3: 64+96+96=256   4: 64+96+32=192
    //      5: 64+32+32=128   6: 32+32+32=96   7: 32+8=40   8: 32+8+16=56   9: 32+8+16+24=80
    //     10: 32+24+24=80   11: 32+24+16=72   12: 32+16+16=64   13: 16+16+16=48   14: 16+4=20   15: 4+2=6
    #expect(cost.liveElementsPerStep == [80, 96, 192, 256, 192, 128, 96, 40, 56, 80, 80, 72, 64, 48, 20, 6])
    #expect(cost.peakActivationElements == 256)
    #expect(cost.peakStep == 3)
    #expect(cost.peakActivationBytesFloat32 == 1_024)
    #expect(cost.peakActivationBytesInt8 == 256)
}

@Test func emptyCellIsTheIdentityAndCostsNothing() {
    // No edges: each cell is node 0 (identity, or a max-pool in a reducing cell); no residual.
    // stem conv3x3 1->32 at 28x28: 784*32*9 = 225,792 MACs; linear 32->10: 320 MACs.
    let empty = CellDAG(nodes: 8, operations: BuiltinArchitectures.nodeOperations(nodes: 8, seed: 0), edges: [])
    let cost = CostModel.costs(of: BuiltinArchitectures.shrinkCNN(cell: empty))
    #expect(cost.layers.map(\.name) == ["stem0", "cell1.node0.pool", "cell2.node0.pool", "head.pool", "head.linear"])
    #expect(cost.macs == 225_792 + 320)
    // params: 288 + 64 (stem) + 320 + 10 (linear) = 682
    #expect(cost.parameters == 682)
    // Live elements: stem 784 + 25,088; first pool 25,088 + 32x14x14 6,272 = 31,360 (the peak);
    // second pool 6,272 + 1,568; gap 1,568 + 32; linear 32 + 10.
    #expect(cost.liveElementsPerStep == [25_872, 31_360, 7_840, 1_600, 42])
    #expect(cost.peakActivationElements == 31_360)
}

@Test func costsGrowWithEdges() {
    let operations = BuiltinArchitectures.nodeOperations(nodes: 8, seed: 3)
    let full = CellDAG.fullyConnected(operations: operations)
    let fullCost = CostModel.costs(of: BuiltinArchitectures.shrinkCNN(cell: full))
    let smaller = CostModel.costs(of: BuiltinArchitectures.shrinkCNN(cell: full.removing(full.edges[0])))
    #expect(smaller.macs < fullCost.macs)
    #expect(smaller.parameters < fullCost.parameters)
}

@Test func depthwiseAndStrideLabels() {
    #expect(CostModel.operationLabel(.convolution(ConvolutionSpec(inputChannels: 8, outputChannels: 8, kernel: 3, stride: 2, groups: 8))) == "dwconv3x3/2")
    #expect(CostModel.operationLabel(.convolution(ConvolutionSpec(inputChannels: 8, outputChannels: 4, kernel: 1, stride: 1))) == "conv1x1")
    #expect(CostModel.operationLabel(.maxPool) == "maxpool2x2")
}
