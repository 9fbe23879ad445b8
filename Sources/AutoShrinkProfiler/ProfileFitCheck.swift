import Foundation

extension DeviceProfile {
    /// Checks that the fitted predictor (`predictor.calibration`) can predict a latency: a positive,
    /// finite `table_scale`, and a positive prediction for every whole network the profile timed. A profile edited (or fitted) to a negative scale or intercept
    /// would otherwise predict 0 ms, and every latency limit would pass (docs/architecture.md, "Names,
    /// locks and output folders"). `validate(source:)` calls it; one-line `ProfileError`.
    public func validateFit(source: String) throws {
        func fail(_ problem: String) -> ProfileError { ProfileError("\(source): malformed profile (\(problem))") }
        let calibration = predictor.calibration
        guard calibration.tableScale.isFinite, calibration.tableScale > 0, calibration.tableScale <= 1e6 else {
            throw fail("predictor.calibration.table_scale must be positive and at most 1e6, got \(calibration.tableScale)")
        }
        guard abs(calibration.perLayerMilliseconds) <= 1e6, abs(calibration.interceptMilliseconds) <= 1e6 else {
            throw fail("predictor.calibration: per-layer and intercept milliseconds must be within +-1e6")
        }
        // Every network the profile timed must get a positive prediction (a least-squares fit may have a
        // small negative intercept, so the coefficients alone are not judged); without timed networks
        // the fit is a plain scale, so the other coefficients must not be negative.
        if networks.isEmpty {
            guard calibration.perLayerMilliseconds >= 0, calibration.interceptMilliseconds >= 0 else {
                throw fail("predictor.calibration: per_layer_ms and intercept_ms must not be negative in a profile without timed networks")
            }
        }
        try validateModels(source: source)
        for network in networks {
            let predicted = calibration.tableScale * network.tableSumMilliseconds + calibration.perLayerMilliseconds * Double(network.layers)
                + calibration.interceptMilliseconds
            guard predicted > 0 else {
                throw fail(String(format: "predictor.calibration predicts %.4g ms for the timed network %@ (measured %.4g ms): table_scale %.4g, per_layer_ms %.4g, intercept_ms %.4g; re-run autoshrink profile",
                                  predicted, network.name, network.measuredMilliseconds, calibration.tableScale,
                                  calibration.perLayerMilliseconds, calibration.interceptMilliseconds))
            }
        }
    }

    /// Checks the latency model and the cost models (profiles made before them have neither): finite
    /// coefficients within +-1e6, non-negative cost coefficients, each table-time feature at most once,
    /// finite network features, and a positive prediction for every timed network that has features.
    func validateModels(source: String) throws {
        func fail(_ problem: String) -> ProfileError { ProfileError("\(source): malformed profile (\(problem))") }
        for (index, model) in (predictor.costModels ?? []).enumerated() {
            let coefficients = [model.microsecondsPerMegaMAC, model.microsecondsPerKiB, model.microsecondsPerInput, model.interceptMicroseconds,
                                model.microsecondsPerTail ?? 0]
            guard coefficients.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1e9 }) else {
                throw fail("predictor.cost_models[\(index)]: coefficients must be finite, >= 0 and at most 1e9")
            }
        }
        guard let model = predictor.latencyModel else { return }
        guard !model.terms.isEmpty, model.terms.allSatisfy({ $0.coefficient.isFinite && abs($0.coefficient) <= 1e6 }) else {
            throw fail("predictor.latency_model: needs terms with finite coefficients within +-1e6")
        }
        guard Set(model.terms.map(\.feature)).count == model.terms.count else {
            throw fail("predictor.latency_model: a feature appears twice")
        }
        for network in networks {
            guard let features = network.features else { continue }
            guard features.values.allSatisfy({ $0.isFinite && abs($0) <= 1e12 }) else {
                throw fail("networks '\(network.name)': features must be finite")
            }
            let predicted = model.latency(features)
            guard predicted > 0 else {
                throw fail(String(format: "predictor.latency_model predicts %.4g ms for the timed network %@ (measured %.4g ms); re-run autoshrink profile",
                                  predicted, network.name, network.measuredMilliseconds))
            }
        }
    }
}
