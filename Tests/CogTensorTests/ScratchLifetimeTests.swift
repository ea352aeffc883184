// ScratchLifetimeTests — the kernels' per-thread scratch buffers at thread exit: a kernel called
// from a thread-exit destructor that runs after the scratch's own (another library's TLS
// cleanup, say) must get fresh memory, not the set that destructor just freed.
import CKernels
import Foundation
import Testing

/// Attention inputs for the destructor (a C callback: no captures) and its output.
private enum ExitCall {
    static let heads = 4, headDim = 64, keys = 300, width = heads * headDim
    static let q: [Float] = (0..<width).map { Float(($0 * 37) % 23) / 23 - 0.5 }                  // [1, width]
    static let k: [UInt16] = (0..<(keys * width)).map { Float16(Float(($0 * 13) % 29) / 29 - 0.5).bitPattern }  // [keys, width]
    static let v: [UInt16] = (0..<(keys * width)).map { Float16(Float(($0 * 7) % 31) / 31 - 0.5).bitPattern }   // [keys, width]
    nonisolated(unsafe) static var out = [Float](repeating: .nan, count: width)  // written by the destructor
    nonisolated(unsafe) static var status = CK_ERR_SHAPE

    static func run(into out: inout [Float]) -> ck_status {
        ck_attention_f16kv(q, width, k, v, width, &out, width, 1, keys, heads, heads, headDim,
                           1 / Float(headDim).squareRoot(), keys - 1, 0, heads)
    }
}

@Suite("CKernels scratch lifetime")
struct ScratchLifetimeTests {
    @Test("a kernel run by a thread-exit destructor after the scratch was freed gets fresh, correct memory")
    func kernelDuringThreadExit() throws {
        var want = [Float](repeating: .nan, count: ExitCall.width)
        try #require(ExitCall.run(into: &want) == CK_OK)
        var key = pthread_key_t()
        try #require(pthread_key_create(&key) { _ in
            ExitCall.status = ExitCall.run(into: &ExitCall.out)
        } == 0)
        defer { pthread_key_delete(key) }
        let exitKey = key
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            // Scratch first (its key exists already, so its destructor runs before this test's key),
            // then this key's value, so its destructor calls the kernel again after the scratch is gone.
            var first = [Float](repeating: 0, count: ExitCall.width)
            _ = ExitCall.run(into: &first)
            pthread_setspecific(exitKey, UnsafeRawPointer(bitPattern: 1))
            done.signal()
        }
        thread.start()
        done.wait()
        // The thread is past its body; wait for its exit (the destructors) to finish.
        for _ in 0..<200 where ExitCall.status != CK_OK { usleep(5_000) }
        #expect(ExitCall.status == CK_OK)
        #expect(ExitCall.out.indices.allSatisfy { ExitCall.out[$0].bitPattern == want[$0].bitPattern })
        // The heap is intact (a write through a freed scratch set corrupts allocator metadata).
        for size in stride(from: 64, through: 1 << 20, by: 4096) {
            guard let p = malloc(size) else { continue }
            memset(p, 0x5A, size)
            free(p)
        }
    }
}
