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
}
