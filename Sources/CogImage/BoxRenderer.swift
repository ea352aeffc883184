/// A rectangle with a caption, in pixel coordinates of the image it is drawn on.
///
/// `(x0, y0)` is the top-left corner and `(x1, y1)` the bottom-right one; both corners are
/// pixels that the outline covers. Swapped corners are put in order; parts outside the image are
/// clipped.
public struct LabeledBox: Sendable, Equatable {
    public var x0: Int
    public var y0: Int
    public var x1: Int
    public var y1: Int
    /// Caption drawn above the box (printable ASCII; other characters are drawn as `?`).
    public var label: String

    public init(x0: Int, y0: Int, x1: Int, y1: Int, label: String) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
        self.label = label
    }
}

/// Draws labelled boxes onto images, for people to check grounding output by eye
/// (`cogjobs show IMAGE --boxes … --draw OUT.jpg`).
///
/// Each box gets an outline 2 px thick (3 px when the image's shorter side is 600 px or more) in a
/// colour from a fixed palette of distinct colours, cycling by box index. Its label sits on a
/// filled background of the same colour just above the box — inside the top of the box when there
/// is no room above — in black or white text, whichever contrasts more. The built-in 5x7 font is
/// scaled up on large images so labels stay readable.
public enum BoxRenderer {
    /// Outline colours, in order of use: saturated and far apart from each other.
    static let palette: [PixelCanvas.Color] = [
        .init(red: 230, green: 25, blue: 75),  // red
        .init(red: 60, green: 180, blue: 75),  // green
        .init(red: 0, green: 130, blue: 200),  // blue
        .init(red: 255, green: 160, blue: 20),  // orange
        .init(red: 145, green: 30, blue: 180),  // purple
        .init(red: 70, green: 220, blue: 230),  // cyan
        .init(red: 240, green: 50, blue: 230),  // magenta
        .init(red: 200, green: 235, blue: 40),  // lime
        .init(red: 0, green: 128, blue: 128),  // teal
        .init(red: 170, green: 110, blue: 40),  // brown
    ]

    /// The outline colour of box number `index` (as red, green, blue).
    public static func color(forBoxAt index: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        let color = palette[((index % palette.count) + palette.count) % palette.count]
        return (color.red, color.green, color.blue)
    }

    /// Outline thickness in pixels for an image of this size.
    public static func lineThickness(width: Int, height: Int) -> Int {
        min(width, height) >= 600 ? 3 : 2
    }

    /// Font scale (image pixels per font pixel) for an image of this size.
    static func fontScale(width: Int, height: Int) -> Int {
        max(1, min(4, min(width, height) / 400))
    }

    /// A copy of `image` with every box drawn in order (later boxes over earlier ones).
    public static func draw(boxes: [LabeledBox], on image: RGBImage) -> RGBImage {
        var canvas = PixelCanvas(image)
        let thickness = lineThickness(width: image.width, height: image.height)
        let scale = fontScale(width: image.width, height: image.height)
        for (index, box) in boxes.enumerated() {
            let color = palette[index % palette.count]
            let left = min(box.x0, box.x1)
            let right = max(box.x0, box.x1)
            let top = min(box.y0, box.y1)
            let bottom = max(box.y0, box.y1)
            drawOutline(
                left: left, top: top, right: right, bottom: bottom, thickness: thickness, color: color,
                on: &canvas)
            let visible = right >= 0 && bottom >= 0 && left < image.width && top < image.height
            if visible {
                drawLabel(box.label, left: left, top: top, scale: scale, color: color, on: &canvas)
            }
        }
        return canvas.image
    }

    /// Four bands of `thickness` pixels on the inside of the box's edges.
    private static func drawOutline(
        left: Int, top: Int, right: Int, bottom: Int, thickness: Int, color: PixelCanvas.Color,
        on canvas: inout PixelCanvas
    ) {
        canvas.fill(x0: left, y0: top, x1: right + 1, y1: min(top + thickness, bottom + 1), color: color)
        canvas.fill(x0: left, y0: max(bottom + 1 - thickness, top), x1: right + 1, y1: bottom + 1, color: color)
        canvas.fill(x0: left, y0: top, x1: min(left + thickness, right + 1), y1: bottom + 1, color: color)
        canvas.fill(x0: max(right + 1 - thickness, left), y0: top, x1: right + 1, y1: bottom + 1, color: color)
    }

    /// The label background and text, above the box if it fits there, else inside its top edge.
    private static func drawLabel(
        _ label: String, left: Int, top: Int, scale: Int, color: PixelCanvas.Color,
        on canvas: inout PixelCanvas
    ) {
        guard !label.isEmpty else { return }
        let padding = 2 * scale
        let backgroundHeight = BitmapFont.glyphHeight * scale + 2 * padding
        // Characters that fit across the image; the rest of a long label is cut.
        let fitting = max(0, (canvas.width - 2 * padding + scale) / (BitmapFont.advance * scale))
        let text = String(label.prefix(fitting))
        guard !text.isEmpty else { return }
        let backgroundWidth = BitmapFont.textWidth(characters: text.count, scale: scale) + 2 * padding
        let x = max(0, min(left, canvas.width - backgroundWidth))
        var y = top - backgroundHeight
        if y < 0 {
            y = max(0, min(top, canvas.height - backgroundHeight))
        }
        canvas.fill(x0: x, y0: y, x1: x + backgroundWidth, y1: y + backgroundHeight, color: color)
        BitmapFont.draw(
            text, x: x + padding, y: y + padding, scale: scale, color: textColor(on: color), on: &canvas)
    }

    /// Black on light backgrounds, white on dark ones (Rec. 601 luma).
    static func textColor(on background: PixelCanvas.Color) -> PixelCanvas.Color {
        let luma = 299 * Int(background.red) + 587 * Int(background.green) + 114 * Int(background.blue)
        return luma >= 150_000 ? .init(red: 0, green: 0, blue: 0) : .init(red: 255, green: 255, blue: 255)
    }
}

extension RGBImage {
    /// This image with `boxes` drawn on it; see `BoxRenderer`.
    public func drawing(boxes: [LabeledBox]) -> RGBImage {
        BoxRenderer.draw(boxes: boxes, on: self)
    }
}
