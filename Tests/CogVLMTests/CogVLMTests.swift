// CogVLMTests — tests land here.
