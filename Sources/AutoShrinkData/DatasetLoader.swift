#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The datasets autoshrink knows how to find and read.
public enum DatasetKind: String, Sendable, Codable, CaseIterable {
    case fashionMNIST = "fashion-mnist"
    case mnist = "mnist"
    case cifar10 = "cifar10"

    /// Where the dataset is looked for when no directory is given. Debian's `dataset-fashion-mnist`
    /// package installs Fashion-MNIST in the first one.
    public var defaultDirectory: String {
        switch self {
        case .fashionMNIST: return "/usr/share/datasets/fashion-mnist"
        case .mnist: return "/usr/share/datasets/mnist"
        case .cifar10: return "/usr/share/datasets/cifar10"
        }
    }

    public var classCount: Int { 10 }

    /// Image shape (C, H, W).
    public var imageShape: (channels: Int, height: Int, width: Int) {
        switch self {
        case .fashionMNIST, .mnist: return (1, 28, 28)
        case .cifar10: return (3, 32, 32)
        }
    }

    public var classNames: [String] {
        switch self {
        case .fashionMNIST:
            return ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        case .mnist:
            return (0..<10).map { String($0) }
        case .cifar10:
            return CIFAR10Reader.classNames
        }
    }

    /// The augmentation that suits the dataset: digits must not be mirrored, clothes and CIFAR objects may.
    public var defaultAugmentation: Augmentation {
        switch self {
        case .mnist: return Augmentation(padding: 2, horizontalFlip: false)
        case .fashionMNIST: return Augmentation(padding: 2, horizontalFlip: true)
        case .cifar10: return Augmentation(padding: 4, horizontalFlip: true)
        }
    }
}

/// Finds dataset files on disk and loads them as normalised `Dataset`s.
///
/// Normalisation always comes from the training split: a training set is normalised with its own
/// per-channel statistics, and a test set with the statistics of the training set next to it, so
/// that train and test see the same input transform (pass `normalization` to override).
public enum DatasetLoader {
    /// Loads one split of a dataset by name ("fashion-mnist", "mnist", "cifar10").
    /// `directory` overrides the default location (the CLI's `--data-dir`).
    public static func load(
        name: String, split: DatasetSplit, directory: String? = nil, normalization: Normalization? = nil
    ) throws(DatasetError) -> Dataset {
        guard let kind = DatasetKind(rawValue: name.lowercased()) else {
            throw DatasetError(file: name, problem: .unknownDataset(known: DatasetKind.allCases.map(\.rawValue)))
        }
        return try load(kind, split: split, directory: directory, normalization: normalization)
    }

    /// Loads one split of a dataset.
    public static func load(
        _ kind: DatasetKind, split: DatasetSplit, directory: String? = nil, normalization: Normalization? = nil
    ) throws(DatasetError) -> Dataset {
        let directory = directory ?? kind.defaultDirectory
        var chosen = normalization
        if chosen == nil, split == .test {
            chosen = try trainingNormalization(kind, directory: directory)
        }
        switch kind {
        case .fashionMNIST, .mnist:
            let (images, labels) = try idxPaths(kind, split: split, directory: directory)
            return try IDXReader.readDataset(
                imagesPath: images, labelsPath: labels, name: kind.rawValue, split: split,
                classCount: kind.classCount, classNames: kind.classNames, normalization: chosen)
        case .cifar10:
            let paths = try cifarPaths(split: split, directory: directory)
            return try CIFAR10Reader.readDataset(
                paths: paths, split: split, name: kind.rawValue, normalization: chosen)
        }
    }

    /// Loads both splits, the test set normalised with the training set's statistics.
    public static func loadTrainAndTest(
        _ kind: DatasetKind, directory: String? = nil
    ) throws(DatasetError) -> (train: Dataset, test: Dataset) {
        let train = try load(kind, split: .train, directory: directory)
        let test = try load(kind, split: .test, directory: directory, normalization: train.normalization)
        return (train, test)
    }

    /// The per-channel statistics of the training split, measured on its raw pixels.
    public static func trainingNormalization(
        _ kind: DatasetKind, directory: String? = nil
    ) throws(DatasetError) -> Normalization {
        let directory = directory ?? kind.defaultDirectory
        let (channels, height, width) = kind.imageShape
        switch kind {
        case .fashionMNIST, .mnist:
            let (images, _) = try idxPaths(kind, split: .train, directory: directory)
            let pixels = try IDXReader.readImages(path: images).pixels
            return Normalization.measure(rawPixels: pixels, channels: channels, pixelsPerChannel: height * width)
        case .cifar10:
            var pixels: [UInt8] = []
            for path in try cifarPaths(split: .train, directory: directory) {
                pixels.append(contentsOf: try CIFAR10Reader.readBatch(path: path).pixels)
            }
            return Normalization.measure(rawPixels: pixels, channels: channels, pixelsPerChannel: height * width)
        }
    }

    /// Paths of the images and labels files of an IDX split. Accepts the usual spellings, compressed
    /// or not: `train-images-idx3-ubyte[.gz]` and `train-images.idx3-ubyte[.gz]` (test: `t10k-...`).
    public static func idxPaths(
        _ kind: DatasetKind, split: DatasetSplit, directory: String
    ) throws(DatasetError) -> (images: String, labels: String) {
        let prefix = split == .train ? "train" : "t10k"
        let images = try firstExisting(directory: directory, stems: ["\(prefix)-images-idx3-ubyte", "\(prefix)-images.idx3-ubyte"])
        let labels = try firstExisting(directory: directory, stems: ["\(prefix)-labels-idx1-ubyte", "\(prefix)-labels.idx1-ubyte"])
        return (images, labels)
    }

    /// Paths of the CIFAR-10 batch files of a split, in `directory` or in its `cifar-10-batches-bin`
    /// subfolder (the name inside the official archive).
    public static func cifarPaths(split: DatasetSplit, directory: String) throws(DatasetError) -> [String] {
        let names = split == .train ? CIFAR10Reader.trainFiles : CIFAR10Reader.testFiles
        let nested = join(directory, "cifar-10-batches-bin")
        let base = isFile(join(nested, names[0])) || isFile(join(nested, names[0] + ".gz")) ? nested : directory
        var paths: [String] = []
        for name in names {
            paths.append(try firstExisting(directory: base, stems: [name]))
        }
        return paths
    }

    /// The first of `stem`, `stem.gz` (for each stem in order) that is a file in `directory`.
    private static func firstExisting(directory: String, stems: [String]) throws(DatasetError) -> String {
        var candidates: [String] = []
        for stem in stems {
            candidates.append(join(directory, stem))
            candidates.append(join(directory, stem + ".gz"))
        }
        if let found = candidates.first(where: isFile) { return found }
        // A folder (or other non-file) where the file belongs is not "missing".
        for candidate in candidates {
            var status = stat()
            guard stat(candidate, &status) == 0 else { continue }
            throw DatasetError(file: candidate, problem: .unreadable((status.st_mode & S_IFMT) == S_IFDIR ? "is a directory" : "not a regular file"))
        }
        let others = candidates.dropFirst().map { $0.split(separator: "/").last.map(String.init) ?? $0 }
        throw DatasetError(file: candidates[0], problem: .missingFile(alternatives: others))
    }

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    private static func isFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }
}
