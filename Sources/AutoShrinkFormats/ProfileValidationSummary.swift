import Foundation

/// `autoshrink profile --validate ARCH... --json`: each architecture timed on the device with the
/// profile's estimator (Sources/CHarness/common/estimator.h) next to the profile's prediction.
public struct ProfileValidationSummary: JSONSummary, Sendable, Equatable {
    public struct Architecture: Codable, Sendable, Equatable {
        public var name: String
        public var hash: String
        public var predictedMilliseconds: Double
        public var measuredMilliseconds: Double
        public var ciLowMilliseconds: Double
        public var ciHighMilliseconds: Double
        /// (predicted - measured) / measured, percent.
        public var errorPercent: Double

        public init(name: String, hash: String, predictedMilliseconds: Double, measuredMilliseconds: Double,
                    ciLowMilliseconds: Double, ciHighMilliseconds: Double) {
            self.name = name; self.hash = hash; self.predictedMilliseconds = predictedMilliseconds
            self.measuredMilliseconds = measuredMilliseconds; self.ciLowMilliseconds = ciLowMilliseconds
            self.ciHighMilliseconds = ciHighMilliseconds
            errorPercent = measuredMilliseconds > 0 ? 100 * (predictedMilliseconds - measuredMilliseconds) / measuredMilliseconds : 0
        }

        enum CodingKeys: String, CodingKey {
            case name, hash
            case predictedMilliseconds = "predicted_ms", measuredMilliseconds = "measured_ms"
            case ciLowMilliseconds = "ci_low_ms", ciHighMilliseconds = "ci_high_ms", errorPercent = "error_pct"
        }
    }

    public var device: String
    public var profile: String
    public var architectures: [Architecture]
    /// Share of architectures predicted within +-10 % (0...1) and their mean absolute error (percent).
    public var within10Percent: Double
    public var mape: Double
    public var cores: [Int]
    public var seconds: Double

    public init(device: String, profile: String, architectures: [Architecture], cores: [Int], seconds: Double) {
        self.device = device; self.profile = profile; self.architectures = architectures; self.cores = cores; self.seconds = seconds
        let errors = architectures.map { abs($0.errorPercent) }
        within10Percent = errors.isEmpty ? 0 : Double(errors.filter { $0 <= 10 }.count) / Double(errors.count)
        mape = errors.isEmpty ? 0 : errors.reduce(0, +) / Double(errors.count)
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case device, profile, architectures, mape, cores, seconds
        case within10Percent = "within_10pct"
    }
}
