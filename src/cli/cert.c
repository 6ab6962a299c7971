/*
 * portway cert: a CA, a server and a client certificate made the way GoDoxy
 * makes its agent certificates (agent/pkg/agent/new_agent.go, spec 1.5):
 * ECDSA P-256 keys, ECDSA-SHA256 signatures, 128-bit random serials, 1000
 * years of validity; the CA is CN=godoxy.agent, O=GoDoxy, CA:TRUE with path
 * length 0; the server and client certificates (OU Server / Client) carry
 * the DNS name godoxy.agent and the serverAuth / clientAuth usage. Keys are
 * written as "EC PRIVATE KEY" PEM, as GoDoxy writes them.
 *
 *   portway cert [--dir DIR] [--san NAME]... [--force] [--env]
 *
 * --env also prints AGENT_CA_CERT and AGENT_SSL_CERT in the GoDoxy agent's
 * environment format (base64 of the PEM certificate ";" base64 of the PEM key).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "src/cli/main.h"

#define CERT_NAME "godoxy.agent"
#define CERT_ORG "GoDoxy"
#define CERT_MAX_SANS 16

struct issued {
	X509 *cert;                 /* owned */
	EVP_PKEY *key;              /* owned */
};

static void issued_free(struct issued *i)
{
	X509_free(i->cert);
	EVP_PKEY_free(i->key);
	i->cert = NULL;
	i->key = NULL;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -1;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* Go's AddDate(1000, 0, 0): the same calendar moment a thousand years on (Feb 29 rolls over). */
static int set_validity(X509 *x)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	tm.tm_year += 1000;
	time_t until = timegm(&tm);
	if (until == (time_t)-1)
		return -1;
	return ASN1_TIME_set(X509_getm_notBefore(x), now) && ASN1_TIME_set(X509_getm_notAfter(x), until) ? 0 : -1;
}

static int set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int ok = bn && BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
		 BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int set_subject(X509 *x, const char *ou)
{
	X509_NAME *n = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)CERT_ORG, -1, -1, 0))
		return -1;
	if (ou && !X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1, -1, 0))
		return -1;
	return X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)CERT_NAME, -1, -1, 0) ? 0
														 : -1;
}

/* ou NULL: the self-signed CA; else a leaf signed by ca with the given usage and names. */
static int issue(struct issued *out, const struct issued *ca, const char *ou, const char *eku, const char *san)
{
	X509 *x = X509_new();
	EVP_PKEY *key = EVP_EC_gen("P-256");
	out->cert = x;
	out->key = key;
	if (!x || !key || !X509_set_version(x, 2) || set_serial(x) < 0 || set_validity(x) < 0 ||
	    !X509_set_pubkey(x, key) || set_subject(x, ou) < 0)
		return -1;
	X509 *issuer = ca ? ca->cert : x;
	if (!X509_set_issuer_name(x, X509_get_subject_name(issuer)))
		return -1;
	if (add_ext(x, issuer, NID_subject_key_identifier, "hash") < 0)
		return -1;
	if (!ca) {
		if (add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
		    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") < 0)
			return -1;
	} else {
		if (add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") < 0 ||
		    add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") < 0 ||
		    add_ext(x, issuer, NID_ext_key_usage, eku) < 0 || add_ext(x, issuer, NID_subject_alt_name, san) < 0)
			return -1;
	}
	return X509_sign(x, ca ? ca->key : key, EVP_sha256()) ? 0 : -1;
}

/* PEM text of a certificate or key, NUL-terminated, owned by the caller. */
static char *pem_of(const X509 *cert, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *out = NULL;
	int ok = b && (cert ? PEM_write_bio_X509(b, cert)
			    : PEM_write_bio_PrivateKey_traditional(b, key, NULL, NULL, 0, NULL, NULL));
	long n = ok ? BIO_get_mem_data(b, &p) : 0;
	if (n > 0 && (out = malloc((size_t)n + 1))) {
		memcpy(out, p, (size_t)n);
		out[n] = 0;
	}
	BIO_free(b);
	return out;
}

static int write_file(const char *dir, const char *name, const char *text, mode_t mode, int force)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
	if (fd < 0) {
		fprintf(stderr, "portway cert: %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (--force replaces it)" : "");
		return -1;
	}
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "portway cert: %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || close(fd) < 0) {
		fprintf(stderr, "portway cert: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static char *b64(const char *s)
{
	size_t len = strlen(s), cap = 4 * ((len + 2) / 3) + 1;
	char *out = malloc(cap);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
	return out;
}

/* AGENT_CA_CERT / AGENT_SSL_CERT: base64(PEM cert) ";" base64(PEM key). */
static void print_env(const char *name, const char *cert_pem, const char *key_pem)
{
	char *c = b64(cert_pem), *k = b64(key_pem);
	if (c && k)
		printf("%s=%s;%s\n", name, c, k);
	free(c);
	free(k);
}

static void cert_usage(FILE *f)
{
	fprintf(f, "Usage: portway cert [--dir DIR] [--san NAME]... [--force] [--env]\n"
		   "  Makes ca.pem/ca.key, server.pem/server.key and client.pem/client.key in DIR (default .)\n"
		   "  as GoDoxy makes its agent certificates (ECDSA P-256, SAN " CERT_NAME ").\n"
		   "  --san NAME  another DNS name or IP address in the server certificate (repeatable)\n"
		   "  --force     replace existing files\n"
		   "  --env       also print AGENT_CA_CERT and AGENT_SSL_CERT for a GoDoxy agent\n");
}

static int is_ip(const char *s)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s);
	if (!ip)
		return 0;
	ASN1_OCTET_STRING_free(ip);
	return 1;
}

int cert_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' }, { "san", required_argument, NULL, 's' },
		{ "force", no_argument, NULL, 'f' },	 { "env", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },	 { NULL, 0, NULL, 0 },
	};
	const char *dir = ".";
	const char *sans[CERT_MAX_SANS];
	int n_sans = 0, force = 0, env = 0, c, rc = 1;
	char server_san[4096] = "DNS:" CERT_NAME;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:s:feh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 's':
			if (n_sans == CERT_MAX_SANS || !*optarg || strpbrk(optarg, ", \t") ||
			    (strchr(optarg, ':') && !is_ip(optarg))) {
				fprintf(stderr, "portway cert: --san: \"%s\" is not a DNS name or IP address (at most %d)\n",
					optarg, CERT_MAX_SANS);
				return 2;
			}
			sans[n_sans++] = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'e':
			env = 1;
			break;
		case 'h':
			cert_usage(stdout);
			return 0;
		default:
			cert_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		cert_usage(stderr);
		return 2;
	}
	for (int i = 0; i < n_sans; i++) {
		size_t l = strlen(server_san);
		snprintf(server_san + l, sizeof server_san - l, ",%s:%s", is_ip(sans[i]) ? "IP" : "DNS", sans[i]);
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "portway cert: %s: %s\n", dir, strerror(errno));
		return 1;
	}

	struct issued ca = { 0 }, srv = { 0 }, cli = { 0 };
	char *pem[6] = { 0 };
	static const char *const files[6] = { "ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key" };
	if (issue(&ca, NULL, NULL, NULL, NULL) < 0 || issue(&srv, &ca, "Server", "serverAuth", server_san) < 0 ||
	    issue(&cli, &ca, "Client", "clientAuth", "DNS:" CERT_NAME) < 0) {
		unsigned long e = ERR_get_error();
		fprintf(stderr, "portway cert: cannot make the certificates: %s\n",
			e ? ERR_reason_error_string(e) : "unknown OpenSSL error");
		goto out;
	}
	const struct issued *each[3] = { &ca, &srv, &cli };
	for (int i = 0; i < 3; i++) {
		pem[2 * i] = pem_of(each[i]->cert, NULL);
		pem[2 * i + 1] = pem_of(NULL, each[i]->key);
		if (!pem[2 * i] || !pem[2 * i + 1]) {
			fprintf(stderr, "portway cert: cannot encode the certificates\n");
			goto out;
		}
	}
	/* Nothing is written unless every file can be. */
	if (!force)
		for (int i = 0; i < 6; i++) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", dir, files[i]);
			if (access(path, F_OK) == 0) {
				fprintf(stderr, "portway cert: %s exists (--force replaces it)\n", path);
				goto out;
			}
		}
	for (int i = 0; i < 6; i++)
		if (write_file(dir, files[i], pem[i], i % 2 ? 0600 : 0644, force) < 0)
			goto out;
	printf("portway cert: wrote %s/{ca,server,client}.{pem,key} (SAN %s)\n", dir, server_san + 4);
	printf("  agent:  portway -L 'stream+tls://:8890?certFile=%s/server.pem&keyFile=%s/server.key&caFile=%s/ca.pem'"
	       " -L 'stream+dtls://:8890?certFile=%s/server.pem&keyFile=%s/server.key&caFile=%s/ca.pem'\n",
	       dir, dir, dir, dir, dir, dir);
	printf("  client: portway probe 'stream+tls://AGENT:8890?caFile=%s/ca.pem&certFile=%s/client.pem&keyFile=%s/client.key'\n",
	       dir, dir, dir);
	if (env) {
		print_env("AGENT_CA_CERT", pem[0], pem[1]);
		print_env("AGENT_SSL_CERT", pem[2], pem[3]);
	}
	rc = 0;
out:
	for (int i = 0; i < 6; i++)
		free(pem[i]);
	issued_free(&ca);
	issued_free(&srv);
	issued_free(&cli);
	return rc;
}
