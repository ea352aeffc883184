// CogWatcherTests — tests land here.
