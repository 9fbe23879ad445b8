import Testing
import Foundation
@testable import AutoShrinkDevice
@Test func zzDebugMessages() throws {
    var dev = try shippedDevice("raspberry-pi-4")
    dev.runner = .ssh(SSHSettings(host: "nonexistent.invalid", user: "pi", port: 22, remoteDirectory: "autoshrink"))
    do { try makeRunner(for: dev).prepare() } catch { print("MSG", error) }
    dev.runner = .ssh(SSHSettings(host: "127.0.0.1", user: "pi", port: 1, remoteDirectory: "autoshrink"))
    do { _ = try makeRunner(for: dev).upload("/etc/hostname") } catch { print("MSG", error) }
    do { _ = try makeRunner(for: dev).run("autoshrink/x", arguments: [], timeout: 3) } catch { print("MSG", error) }
    let d = try TemporaryDirectory("dbg"); defer { d.remove() }
    for (name, text) in DeviceTests.badFiles.map({ ($0.why, $0.toml) }) {
        let p = try d.write("pi.toml", text)
        do { _ = try DeviceDescription.load(path: p) } catch { print("BAD", name, "=>", error) }
    }
    let env = try DeviceEnvironment.probe(using: LocalRunner(device: localDevice()))
    print("ENV", String(decoding: try JSONEncoder().encode(env), as: UTF8.self))
}
