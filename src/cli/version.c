/* `portway --version`: the release, the commit it was configured from, how it was built,
 * and the versions of the libraries it runs with (what a bug report needs). */
#include <ares.h>
#include <ev.h>
#include <libssh/libssh.h>
#include <mbedtls/version.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <yaml.h>
#include <zlib.h>

#include "config.h"
#include "src/cli/main.h"

#ifndef PORTWAY_COMMIT
#define PORTWAY_COMMIT "unknown"
#endif

static const char *build_sanitizers(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return "address,undefined";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return "address,undefined";
#endif
#endif
	return "none";
}

void version_print(FILE *f)
{
	fprintf(f, "portway %s (commit %s)\n", PACKAGE_VERSION, PORTWAY_COMMIT);
	fprintf(f, "build: gcc-compatible %s, sanitizers %s\n", __VERSION__, build_sanitizers());
	fprintf(f, "libraries: %s, libev %d.%d, libyaml %s, SQLite %s, c-ares %s, zlib %s, Mbed TLS %s, libssh %s\n",
		OpenSSL_version(OPENSSL_VERSION), ev_version_major(), ev_version_minor(), yaml_get_version_string(),
		sqlite3_libversion(), ares_version(NULL), zlibVersion(), MBEDTLS_VERSION_STRING, ssh_version(0));
}
