@testable import CogCLI
import Foundation
import Synchronization
import Testing

/// Long work shows progress on a terminal and in logs alike.
@Suite("ProgressBar")
struct ProgressBarTests {
    @Test func logsGetALineAtEveryTenth() {
        let lines = Mutex<[String]>([])
        let bar = ProgressBar(label: "converting", interactive: false, write: { text in lines.withLock { $0.append(text) } })
        for step in 0...1000 { bar.update(Double(step), of: 1000, unit: "GB", scale: 0.01) }
        bar.finish()
        let written = lines.withLock { $0 }
        #expect(written.count == 11, "\(written)")  // 0 %, 10 %, … 100 %
        #expect(written.allSatisfy { $0.hasPrefix("converting: ") && $0.hasSuffix("\n") && !$0.contains("\r") })
        #expect(written.last?.contains("100%") == true && written.last?.contains("10.00/10.00 GB") == true)
    }

    @Test func terminalsGetOneRedrawnLine() {
        let lines = Mutex<[String]>([])
        let bar = ProgressBar(label: "writing", interactive: true, write: { text in lines.withLock { $0.append(text) } })
        bar.update(0, of: 10)
        bar.update(10, of: 10)
        bar.finish()
        let written = lines.withLock { $0 }
        #expect(written.first?.hasPrefix("\rwriting [") == true && written.last == "\n", "\(written)")
    }
}
