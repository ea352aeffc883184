import Testing

/// Every test that runs the `cogjobs daemon` binary as a subprocess. Serialized as a whole (the
/// trait applies to the nested suites): two daemons at once on this 2-core machine would make the
/// latency and watchdog measurements meaningless.
@Suite("Daemon process", .serialized)
enum DaemonProcessTests {}
