// CogPipelineTests — tests land here.
