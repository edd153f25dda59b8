-- wrk: GET /healthz, the trivial endpoint every ratio is divided by.
dofile(os.getenv("WRK_LIB"))
