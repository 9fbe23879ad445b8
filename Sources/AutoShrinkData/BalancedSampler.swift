/// Indices of a class-balanced training subset and a disjoint class-balanced validation split.
public struct BalancedSplit: Sendable, Equatable, Codable {
    /// Training indices into the source dataset, ascending; `trainPerClass` of each class.
    public let train: [Int]
    /// Validation indices into the source dataset, ascending; `validationPerClass` of each class.
    public let validation: [Int]
}

/// Draws class-balanced subsets, e.g. the AutoShrink proxy set (500 training images per class) and a
/// held-out validation split taken from the same training set.
///
/// Deterministic: the same labels, counts and seed give the same indices. Each class's examples are
/// shuffled with one `SeededGenerator`, in class order; the first `validationPerClass` go to validation
/// and the next `trainPerClass` to training, so the two never overlap. The validation split does not
/// depend on `trainPerClass`, so proxy sets of different sizes are scored on the same validation images.
public enum BalancedSampler {
    /// Splits `labels` (N, values in `0..<classCount`) into balanced training and validation indices.
    /// Throws `.notEnoughExamples` naming `datasetName` when a class is too small.
    public static func split(
        labels: [Int32], classCount: Int, trainPerClass: Int, validationPerClass: Int, seed: UInt64,
        datasetName: String = "dataset"
    ) throws(DatasetError) -> BalancedSplit {
        precondition(trainPerClass >= 0 && validationPerClass >= 0, "per-class counts must not be negative")
        var byClass = [[Int]](repeating: [], count: classCount)
        for (index, label) in labels.enumerated() {
            precondition(label >= 0 && Int(label) < classCount, "label \(label) out of range")
            byClass[Int(label)].append(index)
        }
        let needed = trainPerClass + validationPerClass
        for (classIndex, members) in byClass.enumerated() where members.count < needed {
            throw DatasetError(
                file: datasetName,
                problem: .notEnoughExamples(classIndex: classIndex, available: members.count, requested: needed))
        }
        var generator = SeededGenerator(seed: seed)
        var train: [Int] = []
        var validation: [Int] = []
        train.reserveCapacity(trainPerClass * classCount)
        validation.reserveCapacity(validationPerClass * classCount)
        for var members in byClass {
            generator.shuffle(&members)
            validation.append(contentsOf: members[0..<validationPerClass])
            train.append(contentsOf: members[validationPerClass..<needed])
        }
        return BalancedSplit(train: train.sorted(), validation: validation.sorted())
    }

    /// A balanced subset of `trainPerClass` examples per class (no validation split).
    public static func subset(
        labels: [Int32], classCount: Int, perClass: Int, seed: UInt64, datasetName: String = "dataset"
    ) throws(DatasetError) -> [Int] {
        try split(
            labels: labels, classCount: classCount, trainPerClass: perClass, validationPerClass: 0, seed: seed,
            datasetName: datasetName
        ).train
    }
}

extension Dataset {
    /// A balanced training subset and a disjoint balanced validation split of this dataset, both keeping
    /// this dataset's normalisation.
    public func balancedSplit(
        trainPerClass: Int, validationPerClass: Int, seed: UInt64
    ) throws(DatasetError) -> (train: Dataset, validation: Dataset) {
        let indices = try BalancedSampler.split(
            labels: labels, classCount: classCount, trainPerClass: trainPerClass,
            validationPerClass: validationPerClass, seed: seed, datasetName: "\(name) \(split.rawValue)")
        return (subset(indices.train), subset(indices.validation))
    }
}
