// CogWatcher — module placeholder; see Package.swift for its one job.
