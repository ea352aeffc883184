// CogSchedulerTests — tests land here.
