"""Workers at run time: the worker manager, how processes are launched, the pool, remote servers."""
