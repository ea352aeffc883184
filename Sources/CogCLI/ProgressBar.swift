import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Progress of long work on stderr. On a terminal: a one-line bar redrawn at most ten times a
/// second. Elsewhere (a log, a pipe, systemd-run): no carriage-return noise, but a plain line at
/// every further 10 % (and at the end), so that a 40-minute conversion run from a script still
/// shows it is moving.
final class ProgressBar {
    private let label: String
    private let interactive: Bool
    private let write: (String) -> Void
    private var lastDraw = Date.distantPast
    /// Non-interactive: the last tenth reported (−1: none yet).
    private var lastTenth = -1
    private let started = Date()

    init(label: String, interactive: Bool = isatty(STDERR_FILENO) != 0,
         write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.label = label
        self.interactive = interactive
        self.write = write
    }

    func update(_ done: Double, of total: Double, unit: String = "", scale: Double = 1) {
        let fraction = total > 0 ? min(1, done / total) : 1
        let elapsed = Date().timeIntervalSince(started)
        let eta = fraction > 0.01 ? elapsed / fraction - elapsed : 0
        guard interactive else {
            let tenth = Int(fraction * 10)
            guard tenth > lastTenth else { return }
            lastTenth = tenth
            write(String(format: "%@: %3.0f%% %.2f/%.2f %@, %.0fs elapsed, %.0fs left\n", label, fraction * 100,
                         done * scale, total * scale, unit, elapsed, eta))
            return
        }
        guard Date().timeIntervalSince(lastDraw) > 0.1 || done >= total else { return }
        lastDraw = Date()
        let width = 30
        let filled = Int(fraction * Double(width))
        write(String(format: "\r%@ [%@%@] %3.0f%% %.2f/%.2f %@  %.0fs left ", label,
                     String(repeating: "#", count: filled), String(repeating: ".", count: width - filled),
                     fraction * 100, done * scale, total * scale, unit, eta))
    }

    func finish() {
        if interactive { write("\n") }
    }
}
