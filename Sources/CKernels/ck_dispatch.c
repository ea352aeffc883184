// CPU feature detection, the ISA limit knobs and per-thread scratch buffers.
// ref: Intel SDM vol. 1 §13.2 (XCR0 state components), vol. 2 CPUID leaf 07H;
//      Linux Documentation/arch/x86/xstate.rst (ARCH_REQ_XCOMP_PERM for AMX TILEDATA).
#include "ck_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if CK_X86
#include <cpuid.h>
#endif
#if CK_X86 && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define CK_ARCH_GET_XCOMP_PERM 0x1022
#define CK_ARCH_REQ_XCOMP_PERM 0x1023
#define CK_XFEATURE_XTILEDATA 18
#endif

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static ck_isa detected_level = CK_ISA_SCALAR;
static _Atomic int process_limit = CK_ISA_AMX;
static _Thread_local int thread_limit = CK_ISA_AMX;

#if CK_X86
static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

/// Asks Linux for permission to use the AMX tile-data state (process-wide, once).
static bool request_amx_permission(void) {
#if defined(__linux__)
    const char *off = getenv("CK_NO_AMX");
    if (off != NULL && off[0] != '\0' && off[0] != '0') return false;
    if (syscall(SYS_arch_prctl, CK_ARCH_REQ_XCOMP_PERM, CK_XFEATURE_XTILEDATA) != 0) return false;
    uint64_t mask = 0;
    if (syscall(SYS_arch_prctl, CK_ARCH_GET_XCOMP_PERM, &mask) != 0) return false;
    return (mask & (1ull << CK_XFEATURE_XTILEDATA)) != 0;
#else
    return false;
#endif
}
#endif

static bool intel_cpu = false;  // CPUID vendor "GenuineIntel", set by detect()
static bool gfni_cpu = false;   // CPUID.7.0:ECX.GFNI, set by detect()
static _Thread_local bool gfni_off = false;

static void detect(void) {
    ck_isa level = CK_ISA_SCALAR;
#if CK_X86
    uint32_t a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d)) intel_cpu = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e;
    if (!__get_cpuid(1, &a, &b, &c, &d)) goto done;
    const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) goto done;
    const uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) goto done;  // XMM and YMM state enabled by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) goto done;
    const bool avx2 = (b >> 5) & 1;
    if (!(avx2 && fma && f16c)) goto done;
    level = CK_ISA_AVX2;
    const bool avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1,
               avx512vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    const bool amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1;
    gfni_cpu = (c >> 8) & 1;
    if (!(avx512f && avx512dq && avx512bw && avx512vl) || (xcr0 & 0xe0) != 0xe0) goto done;  // opmask+ZMM
    level = CK_ISA_AVX512;
    uint32_t a1 = 0, b1 = 0, c1 = 0, d1 = 0;
    bool bf16 = false;
    if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) bf16 = (a1 >> 5) & 1;
    if (!(bf16 && vnni)) goto done;
    level = CK_ISA_AVX512_BF16;
    if (amx_bf16 && amx_tile && amx_int8 && (xcr0 & 0x60000) == 0x60000 && request_amx_permission())
        level = CK_ISA_AMX;
done:
#endif
    detected_level = level;
}

ck_isa ck_detected_isa(void) {
    pthread_once(&detect_once, detect);
    return detected_level;
}

ck_isa ck_isa_now(void) {
    int level = (int)ck_detected_isa();
    int p = atomic_load_explicit(&process_limit, memory_order_relaxed);
    if (p < level) level = p;
    if (thread_limit < level) level = thread_limit;
    return (ck_isa)level;
}

ck_isa ck_active_isa(void) { return ck_isa_now(); }

bool ck_gfni_now(void) {
    pthread_once(&detect_once, detect);
    return gfni_cpu && !gfni_off;
}

void ck_set_thread_gfni(bool allowed) { gfni_off = !allowed; }

bool ck_bf16_gemm_prefers_sgemm(void) {
    const ck_isa isa = ck_isa_now();
    return intel_cpu && isa >= CK_ISA_AVX512_BF16 && isa < CK_ISA_AMX;
}

static int clamp_level(ck_isa isa) {
    int v = (int)isa;
    return v < CK_ISA_SCALAR ? CK_ISA_SCALAR : (v > CK_ISA_AMX ? CK_ISA_AMX : v);
}

void ck_set_isa_limit(ck_isa isa) { atomic_store(&process_limit, clamp_level(isa)); }
void ck_set_thread_isa_limit(ck_isa isa) { thread_limit = clamp_level(isa); }

ck_isa ck_thread_isa_limit(void) { return (ck_isa)thread_limit; }

const char *ck_isa_name(ck_isa isa) {
    switch (isa) {
    case CK_ISA_SCALAR: return "scalar";
    case CK_ISA_AVX2: return "avx2";
    case CK_ISA_AVX512: return "avx512";
    case CK_ISA_AVX512_BF16: return "avx512-bf16-vnni";
    case CK_ISA_AMX: return "amx";
    }
    return "unknown";
}

// MARK: per-thread scratch

#define CK_SCRATCH_SLOTS 4

typedef struct {
    void *ptr[CK_SCRATCH_SLOTS];
    size_t size[CK_SCRATCH_SLOTS];
} scratch_set;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local scratch_set *thread_scratch;

/// The key's destructor, run on the exiting thread: frees its buffers and forgets them, so a kernel
/// called by a later thread-exit destructor (the runtime's, another library's) allocates a fresh
/// set (registered again, hence freed in the next destructor pass) instead of using freed memory.
static void scratch_free(void *p) {
    scratch_set *set = p;
    if (thread_scratch == set) thread_scratch = NULL;
    for (int i = 0; i < CK_SCRATCH_SLOTS; i++) free(set->ptr[i]);
    free(set);
}

static void scratch_init(void) { (void)pthread_key_create(&scratch_key, scratch_free); }

void *ck_scratch(int slot, size_t bytes) {
    if (slot < 0 || slot >= CK_SCRATCH_SLOTS) return NULL;
    if (thread_scratch == NULL) {
        pthread_once(&scratch_once, scratch_init);
        scratch_set *set = calloc(1, sizeof *set);
        if (set == NULL) return NULL;
        thread_scratch = set;
        // The destructor frees the buffers when the thread exits; setspecific failing only leaks.
        (void)pthread_setspecific(scratch_key, set);
    }
    scratch_set *set = thread_scratch;
    if (set->size[slot] >= bytes && set->ptr[slot] != NULL) return set->ptr[slot];
    size_t want = bytes < 4096 ? 4096 : bytes;
    want = (want + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, want) != 0) return NULL;
    free(set->ptr[slot]);
    set->ptr[slot] = p;
    set->size[slot] = want;
    return p;
}
