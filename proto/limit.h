/*
 * GOST's bandwidth limit lines ("$ 100MB 100MB", "$$ 10MB", "192.168.0.0/16 1MB 5MB"):
 * a scope, an input rate, an optional output rate and an optional burst, separated
 * by spaces or tabs. Rates are bytes per second in go-gost's units (alecthomas/units
 * ParseBase2Bytes: B, KB/KiB, MB/MiB, ... EB/EiB, all powers of 1024, case as written,
 * decimals and sums like "1MB512KB" allowed). Zero or negative means no limit.
 * I/O-free: a string in, a struct out.
 */
#ifndef PORTWAY_PROTO_LIMIT_H
#define PORTWAY_PROTO_LIMIT_H
#include <stddef.h>
#include <stdint.h>

#include "proto/addr_rules.h"

enum traffic_scope {
	TRAFFIC_SERVICE,        /* "$": all connections of the service share it */
	TRAFFIC_CONN,           /* "$$": each connection has its own */
	TRAFFIC_HOST,           /* an IP address or a CIDR block (proto/addr_rules.h) */
};

struct traffic_limit {
	enum traffic_scope scope;
	struct ip_prefix prefix;        /* TRAFFIC_HOST */
	uint64_t in, out, burst;        /* bytes per second; 0: no limit (burst 0: the rate itself) */
};

/* A byte quantity as go-gost parses it; 0 on success (*out 0 for zero or negative), -1 if malformed. */
int limit_parse_bytes(const char *s, size_t len, uint64_t *out);

/* 0 on success; -1 with a message in err. */
int traffic_limit_parse(const char *line, struct traffic_limit *out, char *err, size_t errlen);

#endif
