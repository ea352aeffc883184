import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar on stderr, redrawn at most ten times a second; silent when stderr is
/// not a terminal (logs and pipes get no carriage-return noise).
final class ProgressBar {
    private let label: String
    private let interactive = isatty(STDERR_FILENO) != 0
    private var lastDraw = Date.distantPast
    private let started = Date()

    init(label: String) { self.label = label }

    func update(_ done: Double, of total: Double, unit: String = "", scale: Double = 1) {
        guard interactive, Date().timeIntervalSince(lastDraw) > 0.1 || done >= total else { return }
        lastDraw = Date()
        let fraction = total > 0 ? min(1, done / total) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = Date().timeIntervalSince(started)
        let eta = fraction > 0.01 ? elapsed / fraction - elapsed : 0
        let line = String(format: "\r%@ [%@%@] %3.0f%% %.2f/%.2f %@  %.0fs left ", label,
                          String(repeating: "#", count: filled), String(repeating: ".", count: width - filled),
                          fraction * 100, done * scale, total * scale, unit, eta)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
