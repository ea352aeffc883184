// CogJobStoreTests — tests land here.
