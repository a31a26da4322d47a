"""One run, from config to result: compose objects from the config (``build``), train (``train``), rebuild a finished
run from its folder (``restore``), and start the processes of a distributed run (``launch``)."""
