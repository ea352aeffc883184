// CogDaemonTests — tests land here.
