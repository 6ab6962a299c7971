/*
 * listener sshd: an SSH server for standard port forwarding (GOST's sshd
 * listener; src/xprt/ssh_server.h does the SSH). It authenticates clients:
 * by password against the listener's auth (-L sshd://user:pass@:2222 puts
 * the URL's user there, as GOST does), by public key against the
 * authorizedKeys file; with neither, every client is let in. Each
 * direct-tcpip channel (ssh -L, ssh -D) and each tcpip-forward request
 * (ssh -R) is handed to the handler, GOST's sshd handler.
 *
 * Metadata: privateKeyFile (the host key; else the listener's TLS key file;
 * else a key generated for the process), passphrase, authorizedKeys,
 * backlog (accepted for GOST compatibility: channels are handed over at
 * once, there is no queue to bound).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/core/log.h"
#include "src/core/util.h"
#include "src/svc/service.h"
#include "src/xprt/ssh_server.h"

#define SSHD_HANDSHAKE_TIMEOUT 15.0

static int sshd_password_ok(void *ud, const char *user, const char *pass)
{
	struct service *svc = ud;
	return auth_cfg_check(&svc->listener.auth, user, pass);
}

static void sshd_hold(void *ud) { service_ref(ud); }
static void sshd_release(void *ud) { service_unref(ud); }
static void sshd_dispatch(void *ud, struct stream *s) { service_dispatch(ud, s); }

static int sshd_hostkey(struct service *svc, struct ssh_server_conf *c, struct cfg_err *e)
{
	const struct cnode *md = svc->listener.md;
	const char *file = md_str(md, "privateKeyFile", NULL);
	const char *pass = md_str(md, "passphrase", NULL);
	const char *field = "listener.metadata.privateKeyFile";
	char err[512];
	if (!file || !*file) {
		/* GOST: the key of the listener's TLS certificate, else the generated one */
		const struct tls_cfg *t = &svc->listener.tls;
		file = t->key_file && *t->key_file ? t->key_file : t->cert_file;
		field = "listener.tls.keyFile";
		pass = NULL;
	}
	if (ssh_server_load_hostkey(c, file, pass, err, sizeof err) < 0)
		return cfg_error(e, svc->listener.md ? svc->listener.md : svc->cfg, field, "%s", err);
	return 0;
}

static int sshd_init(struct service *svc, struct cfg_err *e)
{
	struct ssh_server_conf *c = xcalloc(1, sizeof *c);
	svc->listener.state = c;
	const struct cnode *md = svc->listener.md;
	long backlog;
	if (md_int(md, "backlog", 128, -2147483648L, 2147483647L, &backlog, e) < 0)
		return -1;
	if (sshd_hostkey(svc, c, e) < 0)
		return -1;
	const char *keys = md_str(md, "authorizedKeys", NULL);
	char err[512];
	if (keys && *keys && ssh_server_load_authorized_keys(c, keys, err, sizeof err) < 0)
		return cfg_error(e, md, "listener.metadata.authorizedKeys", "%s", err);
	if (auth_cfg_set(&svc->listener.auth))
		c->password_ok = sshd_password_ok;
	c->handshake_timeout = SSHD_HANDSHAKE_TIMEOUT;
	snprintf(c->label, sizeof c->label, "service %s", svc->name);
	c->ud = svc;
	c->hold = sshd_hold;
	c->release = sshd_release;
	c->on_direct = sshd_dispatch;
	c->on_forward = sshd_dispatch;
	return 0;
}

static void sshd_fini(struct service *svc)
{
	struct ssh_server_conf *c = svc->listener.state;
	if (!c)
		return;
	ssh_server_conf_clear(c);
	free(c);
	svc->listener.state = NULL;
}

/* The SSH session takes the socket itself (libssh owns its descriptor). */
static void sshd_accept(struct listener_inst *li, struct stream *s)
{
	char peer[sizeof s->peer];
	snprintf(peer, sizeof peer, "%s", s->peer);
	int fd = dup(stream_fd(s));
	stream_close(s);
	if (fd < 0) {
		log_warn("service %s: ssh: %s", li->svc->name, strerror(errno));
		return;
	}
	ssh_server_accept(li->state, fd, peer);
}

static int sshd_start(struct listener_inst *li)
{
	char err[256];
	li->state = ssh_server_new(li->w, li->svc->listener.state, err, sizeof err);
	if (!li->state) {
		log_error("service %s: %s", li->svc->name, err);
		return -1;
	}
	return stream_listener_start(li, sshd_accept);
}

static void sshd_stop(struct listener_inst *li)
{
	if (!li->state)
		return;     /* start failed: nothing accepts */
	stream_listener_stop(li);
	ssh_server_free(li->state);
	li->state = NULL;
}

const struct listener_type listener_sshd = {
	.name = "sshd",
	.socktype = SOCK_STREAM,
	.init = sshd_init,
	.fini = sshd_fini,
	.start = sshd_start,
	.stop = sshd_stop,
	.checks_users = 1, /* the SSH password check */
	.uses_tls = 1,     /* its key is the host key when privateKeyFile is not set */
};
