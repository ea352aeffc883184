import CogImage

/// How two u8 images differ: the numbers tests print and check.
struct PixelComparison: CustomStringConvertible {
    let sampleCount: Int
    let differingSamples: Int
    let maxAbsoluteDifference: Int
    let meanAbsoluteDifference: Double
    /// (x, y, channel) of the first sample with the largest difference.
    let worst: (x: Int, y: Int, channel: Int)?

    init(_ actual: [UInt8], _ expected: [UInt8], width: Int) {
        precondition(actual.count == expected.count, "compared buffers differ in size")
        var differing = 0
        var maximum = 0
        var total = 0
        var worst: (Int, Int, Int)?
        for i in 0..<actual.count {
            let d = abs(Int(actual[i]) - Int(expected[i]))
            if d > 0 { differing += 1 }
            total += d
            if d > maximum {
                maximum = d
                let pixel = i / 3
                worst = (pixel % width, pixel / width, i % 3)
            }
        }
        sampleCount = actual.count
        differingSamples = differing
        maxAbsoluteDifference = maximum
        meanAbsoluteDifference = actual.isEmpty ? 0 : Double(total) / Double(actual.count)
        self.worst = worst
    }

    init(_ actual: RGBImage, expected: [UInt8]) {
        self.init(actual.pixels, expected, width: actual.width)
    }

    var isExact: Bool { differingSamples == 0 }

    var description: String {
        var text = "max |diff| \(maxAbsoluteDifference), \(differingSamples)/\(sampleCount) samples differ, "
            + "mean |diff| \(meanAbsoluteDifference)"
        if let worst { text += ", worst at x=\(worst.x) y=\(worst.y) c=\(worst.channel)" }
        return text
    }
}
