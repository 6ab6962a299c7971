/*
 * SSH server sessions for port forwarding (see ssh_server.h).
 *
 * One session: libssh in non-blocking mode on the accepted socket, watched by
 * libev. Each wake-up lets libssh read and process what arrived, then runs a
 * pass: the session's state machine (key exchange, authentication, open,
 * dead), then its streams. libssh's callbacks only take notes, answer what
 * must be answered at once (authentication, channel opens, global requests)
 * and ask for a pass (src/xprt/ssh_channel.h).
 */
#include "src/xprt/ssh_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/server.h>

#include "src/core/log.h"
#include "src/core/util.h"

/* ---- keys ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_init_once(void) { ssh_init(); }
void ssh_server_global_init(void) { pthread_once(&global_once, global_init_once); }

static char *key_fingerprint(ssh_key key)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) < 0)
		return xstrdup("?");
	char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	ssh_clean_pubkey_hash(&hash);
	char *out = xstrdup(fp ? fp : "?");
	ssh_string_free_char(fp);
	return out;
}

static int key_to_conf(struct ssh_server_conf *conf, ssh_key key, char *err, size_t errlen)
{
	char *b64 = NULL;
	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &b64) != SSH_OK || !b64) {
		snprintf(err, errlen, "cannot export the host key");
		return -1;
	}
	free(conf->hostkey);
	conf->hostkey = xstrdup(b64);
	ssh_string_free_char(b64);
	return 0;
}

static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;
static ssh_key gen_key;   /* the process's generated host key, kept for the process */

static int generated_hostkey(struct ssh_server_conf *conf, char *err, size_t errlen)
{
	int rc = -1;
	pthread_mutex_lock(&gen_lock);
	if (!gen_key) {
		if (ssh_pki_generate(SSH_KEYTYPE_ECDSA_P256, 256, &gen_key) != SSH_OK) {
			gen_key = NULL;
			snprintf(err, errlen, "cannot generate a host key");
			goto out;
		}
		char *fp = key_fingerprint(gen_key);
		log_info("ssh: generated host key (ECDSA P-256), fingerprint %s", fp);
		free(fp);
	}
	rc = key_to_conf(conf, gen_key, err, errlen);
out:
	pthread_mutex_unlock(&gen_lock);
	return rc;
}

/* "~/x" as $HOME/x (GOST expands the home directory). */
static void expand_home(const char *path, char *out, size_t outlen)
{
	const char *home = getenv("HOME");
	if (path[0] == '~' && (path[1] == '/' || !path[1]) && home)
		snprintf(out, outlen, "%s%s", home, path + 1);
	else
		snprintf(out, outlen, "%s", path);
}

int ssh_server_load_hostkey(struct ssh_server_conf *conf, const char *path, const char *passphrase, char *err,
			    size_t errlen)
{
	ssh_server_global_init();
	if (!path || !*path)
		return generated_hostkey(conf, err, errlen);
	char full[4096];
	expand_home(path, full, sizeof full);
	ssh_key key = NULL;
	int rc = ssh_pki_import_privkey_file(full, passphrase && *passphrase ? passphrase : NULL, NULL, NULL, &key);
	if (rc != SSH_OK) {
		snprintf(err, errlen, "%s: %s", full,
			 rc == SSH_EOF ? "cannot read the file" : "not a private key (or a wrong passphrase)");
		return -1;
	}
	rc = key_to_conf(conf, key, err, errlen);
	ssh_key_free(key);
	return rc;
}

/* One authorized_keys line: "[options] keytype base64 [comment]". NULL when it holds no key. */
static ssh_key authorized_line(char *line)
{
	char *save = NULL, *prev = NULL;
	for (char *tok = strtok_r(line, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (prev) {
			enum ssh_keytypes_e t = ssh_key_type_from_name(prev);
			ssh_key key = NULL;
			if (t != SSH_KEYTYPE_UNKNOWN && ssh_pki_import_pubkey_base64(tok, t, &key) == SSH_OK)
				return key;
		}
		prev = tok;
	}
	return NULL;
}

int ssh_server_load_authorized_keys(struct ssh_server_conf *conf, const char *path, char *err, size_t errlen)
{
	ssh_server_global_init();
	char full[4096];
	expand_home(path, full, sizeof full);
	FILE *f = fopen(full, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", full, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) >= 0) {
		char *p = line + strspn(line, " \t");
		if (!*p || *p == '#' || *p == '\n' || *p == '\r')
			continue;
		ssh_key key = authorized_line(p);
		if (!key)
			continue;
		conf->keys = xrealloc(conf->keys, (conf->n_keys + 1) * sizeof *conf->keys);
		conf->keys[conf->n_keys++] = key;
	}
	free(line);
	fclose(f);
	if (!conf->n_keys) {
		snprintf(err, errlen, "%s: no public key found", full);
		return -1;
	}
	return 0;
}

void ssh_server_conf_clear(struct ssh_server_conf *conf)
{
	for (size_t i = 0; i < conf->n_keys; i++)
		ssh_key_free(conf->keys[i]);
	free(conf->keys);
	conf->keys = NULL;
	conf->n_keys = 0;
	free(conf->hostkey);
	conf->hostkey = NULL;
}

/* ---- sessions ---- */

struct fwd;
struct fwd_open;

struct sess {
	struct ssh_link link;       /* first: the channels' view of the session */
	const struct ssh_server_conf *conf;   /* until dead (released then) */
	ssh_event ev;               /* after the key exchange */
	ev_io io;
	int io_events;
	ev_timer timer;             /* handshake and authentication */
	int auth_fails;
	unsigned kex_done : 1, authed : 1, kill : 1, dead : 1, scheduled : 1, in_pass : 1;
	struct ssh_server_callbacks_struct scb;
	struct stream **fresh;      /* direct-tcpip streams not yet handed to the owner */
	size_t n_fresh, cap_fresh;
	struct fwd *fwds;
	struct fwd_open *opens;
	char label[96];
	char why[160];              /* why it is to end, for the log */
};

/* A tcpip-forward request, as a stream: nothing to read but its end. */
struct fwd {
	struct stream base;         /* first */
	struct sess *x;             /* a reference on x->link */
	char host[256];
	uint16_t port, bound;
	ssh_message msg;            /* while on_forward runs */
	unsigned replied : 1, ok : 1, cancelled : 1, lost : 1, ended : 1, pending : 1;
	struct fwd *next, **pprev;
};

struct fwd_open {
	struct sess *x;             /* a reference on x->link */
	ssh_channel ch;             /* NULL once the connection went */
	char bind_host[256], orig_host[64];
	uint16_t bind_port, orig_port;
	stream_done_cb cb;
	void *ctx;
	struct fwd_open *next;
};

static void sess_pass(struct sess *x);

static void sess_deferred(void *arg)
{
	struct sess *x = arg;
	x->scheduled = 0;
	sess_pass(x);
	ssh_link_unref(&x->link);
}

static void sess_schedule(struct sess *x)
{
	if (x->scheduled)
		return;
	x->scheduled = 1;
	ssh_link_ref(&x->link);
	worker_defer(x->link.w, sess_deferred, x);
}

static int sess_socket_gone(struct sess *x)
{
	ssh_session ss = x->link.ss;
	return !ss || (ssh_get_status(ss) & (SSH_CLOSED | SSH_CLOSED_ERROR)) || !ssh_is_connected(ss);
}

/* Watch for writing only while libssh holds output; never watch a socket libssh closed. */
static void sess_update_io(struct sess *x)
{
	int want = 0;
	if (!x->dead && !sess_socket_gone(x))
		want = EV_READ | ((ssh_get_poll_flags(x->link.ss) & SSH_WRITE_PENDING) ? EV_WRITE : 0);
	if (want == x->io_events)
		return;
	ev_io_stop(x->link.w->loop, &x->io);
	x->io_events = want;
	if (want) {
		ev_io_set(&x->io, x->io.fd, want);
		ev_io_start(x->link.w->loop, &x->io);
	}
}

static void sess_kick(struct ssh_link *l)
{
	struct sess *x = (struct sess *)l;
	if (!x->dead && sess_socket_gone(x)) {
		ev_io_stop(l->w->loop, &x->io);
		x->io_events = 0;
	}
	sess_schedule(x);
}

static void sess_release(struct ssh_link *l)
{
	struct sess *x = (struct sess *)l;
	free(x->fresh);
	free(x);
}

static void sess_end_reason(struct sess *x, const char *why)
{
	if (!x->why[0])
		snprintf(x->why, sizeof x->why, "%s", why);
}

static void fwd_mark(struct fwd *f)
{
	f->pending = 1;
	sess_schedule(f->x);
}

/* The connection ends: everything that rides on it learns at this pass, libssh goes. */
static void sess_die(struct sess *x)
{
	ssh_session ss = x->link.ss;
	x->dead = 1;
	ev_io_stop(x->link.w->loop, &x->io);
	x->io_events = 0;
	ev_timer_stop(x->link.w->loop, &x->timer);
	if (!x->why[0] && ss)
		sess_end_reason(x, ssh_get_error(ss));
	log_debug("%s: ssh session from %s ended: %s", x->label, x->link.peer, x->why[0] ? x->why : "closed");
	ssh_link_lost(&x->link);
	for (struct fwd *f = x->fwds; f; f = f->next) {
		f->lost = 1;
		f->pending = 1;
	}
	for (struct fwd_open *o = x->opens; o; o = o->next)
		o->ch = NULL;
	if (ss) {
		if (x->ev) {
			ssh_event_remove_session(x->ev, ss);
			ssh_event_free(x->ev);
			x->ev = NULL;
		}
		if (ssh_is_connected(ss))
			ssh_disconnect(ss);
		ssh_free(ss);   /* closes the socket and every channel */
	}
	const struct ssh_server_conf *conf = x->conf;
	x->conf = NULL;
	conf->release(conf->ud);
	ssh_link_unref(&x->link);   /* the session's own; the pass holds another */
}

static void sess_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	struct sess *x = t->data;
	sess_end_reason(x, "no authentication in time");
	x->kill = 1;
	sess_pass(x);
}

static void kex_step(struct sess *x)
{
	int rc = ssh_handle_key_exchange(x->link.ss);
	if (rc == SSH_AGAIN)
		return;
	if (rc != SSH_OK) {
		sess_end_reason(x, ssh_get_error(x->link.ss));
		x->kill = 1;
		return;
	}
	x->kex_done = 1;
	x->ev = ssh_event_new();
	if (!x->ev || ssh_event_add_session(x->ev, x->link.ss) != SSH_OK) {
		sess_end_reason(x, "cannot poll the session");
		x->kill = 1;
	}
}

/* Hand new direct-tcpip channels to the owner (or drop them when the session died). */
static void dispatch_fresh(struct sess *x)
{
	while (x->n_fresh) {
		struct stream *s = x->fresh[0];
		memmove(x->fresh, x->fresh + 1, --x->n_fresh * sizeof *x->fresh);
		if (x->dead)
			stream_close(s);
		else
			x->conf->on_direct(x->conf->ud, s);
	}
}

static void opens_step(struct sess *x)
{
	struct fwd_open *list = x->opens, *keep = NULL, **tail = &keep;
	x->opens = NULL;
	while (list) {
		struct fwd_open *o = list;
		list = o->next;
		o->next = NULL;
		int rc = SSH_ERROR;
		if (o->ch)
			rc = ssh_channel_open_reverse_forward(o->ch, o->bind_host, o->bind_port, o->orig_host,
							      o->orig_port);
		if (rc == SSH_AGAIN && !x->dead) {
			*tail = o;
			tail = &o->next;
			continue;
		}
		struct stream *s = NULL;
		int err = 0;
		if (rc == SSH_OK && !x->dead) {
			s = ssh_chan_stream_new(&x->link, o->ch);
		} else {
			if (o->ch)
				ssh_channel_free(o->ch);
			err = x->dead ? ECONNRESET : ECONNREFUSED;
		}
		o->cb(o->ctx, s, err);
		ssh_link_unref(&x->link);
		free(o);
	}
	*tail = x->opens;   /* opens added by the callbacks go after */
	x->opens = keep;
}

static void fwds_step(struct sess *x)
{
	for (;;) {
		struct fwd *f = x->fwds;
		while (f && !(f->pending && f->base.reading))
			f = f->next;
		if (!f)
			break;
		f->pending = 0;
		if (f->ended)
			continue;
		f->ended = 1;
		if (f->lost)
			stream_emit_event(&f->base, STREAM_EV_ERROR, ECONNRESET);
		else
			stream_emit_read(&f->base, NULL, 0);
	}
}

static void sess_pass(struct sess *x)
{
	if (x->in_pass) {
		sess_schedule(x);
		return;
	}
	x->in_pass = 1;
	ssh_link_ref(&x->link);
	if (!x->dead && !x->kex_done && !x->kill)
		kex_step(x);
	if (!x->dead && (x->kill || sess_socket_gone(x)))
		sess_die(x);
	opens_step(x);          /* polls libssh: before the channels look at their windows */
	dispatch_fresh(x);
	ssh_link_pass(&x->link);
	fwds_step(x);
	if (!x->dead && (x->kill || sess_socket_gone(x)))
		sess_schedule(x);
	else if (!x->dead)
		sess_update_io(x);
	x->in_pass = 0;
	ssh_link_unref(&x->link);
}

static void sess_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	struct sess *x = w->data;
	if (x->kex_done) {
		/* libssh reads 4 KiB per poll: take a few rounds per wake-up */
		for (int i = 0; i < 16 && !sess_socket_gone(x); i++)
			if (ssh_event_dopoll(x->ev, 0) != SSH_OK)
				break;
	}
	sess_pass(x);
}

/* ---- authentication (libssh's server callbacks) ---- */

static int auth_too_many(struct sess *x)
{
	if (x->auth_fails < SSH_SERVER_MAX_AUTH_TRIES)
		return 0;
	sess_end_reason(x, "too many authentication failures");
	x->kill = 1;
	sess_schedule(x);
	return 1;
}

static void auth_ok(struct sess *x, const char *user, const char *how)
{
	x->authed = 1;
	ev_timer_stop(x->link.w->loop, &x->timer);
	log_debug("%s: ssh client %s authenticated as \"%s\" (%s)", x->label, x->link.peer, user ? user : "", how);
}

static int auth_none(ssh_session ss, const char *user, void *ud)
{
	(void)ss;
	struct sess *x = ud;
	if (x->conf && !x->conf->password_ok && !x->conf->n_keys) {
		auth_ok(x, user, "no authentication");
		return SSH_AUTH_SUCCESS;
	}
	return SSH_AUTH_DENIED;
}

static int auth_password(ssh_session ss, const char *user, const char *pass, void *ud)
{
	(void)ss;
	struct sess *x = ud;
	if (!x->conf || auth_too_many(x))
		return SSH_AUTH_DENIED;
	if (x->conf->password_ok && x->conf->password_ok(x->conf->ud, user, pass)) {
		auth_ok(x, user, "password");
		return SSH_AUTH_SUCCESS;
	}
	x->auth_fails++;
	log_info("%s: ssh client %s: password rejected for \"%s\"", x->label, x->link.peer, user ? user : "");
	return SSH_AUTH_DENIED;
}

static int key_known(const struct ssh_server_conf *c, ssh_key k)
{
	for (size_t i = 0; i < c->n_keys; i++)
		if (ssh_key_cmp(c->keys[i], k, SSH_KEY_CMP_PUBLIC) == 0)
			return 1;
	return 0;
}

static int auth_pubkey(ssh_session ss, const char *user, struct ssh_key_struct *key, char state, void *ud)
{
	(void)ss;
	struct sess *x = ud;
	if (!x->conf || auth_too_many(x))
		return SSH_AUTH_DENIED;
	if (key_known(x->conf, key)) {
		if (state == SSH_PUBLICKEY_STATE_NONE)
			return SSH_AUTH_SUCCESS;    /* "this key would do": the client signs next */
		if (state == SSH_PUBLICKEY_STATE_VALID) {
			auth_ok(x, user, "public key");
			return SSH_AUTH_SUCCESS;
		}
	}
	x->auth_fails++;
	log_info("%s: ssh client %s: unknown public key for \"%s\"", x->label, x->link.peer, user ? user : "");
	return SSH_AUTH_DENIED;
}

/* ---- channel opens and global requests (libssh's message callback) ---- */

static void fresh_push(struct sess *x, struct stream *s)
{
	if (x->n_fresh == x->cap_fresh) {
		x->cap_fresh = x->cap_fresh ? 2 * x->cap_fresh : 8;
		x->fresh = xrealloc(x->fresh, x->cap_fresh * sizeof *x->fresh);
	}
	x->fresh[x->n_fresh++] = s;
}

static int on_direct_tcpip(struct sess *x, ssh_message msg)
{
	const char *host = ssh_message_channel_request_open_destination(msg);
	int port = ssh_message_channel_request_open_destination_port(msg);
	if (!host || port < 0 || port > 65535)
		return 1;
	if (!strcmp(host, "<nil>"))
		host = "";  /* as GOST reads it */
	char dst[256];
	snprintf(dst, sizeof dst, "%s", host);
	ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
	if (!ch)
		return 0;
	struct stream *s = ssh_chan_stream_new(&x->link, ch);
	ssh_chan_set_target(s, dst, (uint16_t)port);
	fresh_push(x, s);
	sess_schedule(x);
	return 0;
}

static const struct stream_ops fwd_ops;

static void fwd_link(struct sess *x, struct fwd *f)
{
	f->x = x;
	ssh_link_ref(&x->link);
	f->next = x->fwds;
	if (f->next)
		f->next->pprev = &f->next;
	f->pprev = &x->fwds;
	x->fwds = f;
}

static int on_tcpip_forward(struct sess *x, ssh_message msg)
{
	const char *host = ssh_message_global_request_address(msg);
	int port = ssh_message_global_request_port(msg);
	if (port < 0 || port > 65535 || !x->conf->on_forward)
		return 1;
	struct fwd *f = xcalloc(1, sizeof *f);
	stream_init(&f->base, &fwd_ops, x->link.w);
	snprintf(f->base.peer, sizeof f->base.peer, "%s", x->link.peer);
	snprintf(f->host, sizeof f->host, "%s", host ? host : "");
	f->port = (uint16_t)port;
	f->msg = msg;
	fwd_link(x, f);
	x->conf->on_forward(x->conf->ud, &f->base);
	f->msg = NULL;
	return f->replied ? 0 : 1;   /* 1: libssh refuses it */
}

static int on_cancel_forward(struct sess *x, ssh_message msg)
{
	const char *host = ssh_message_global_request_address(msg);
	int port = ssh_message_global_request_port(msg);
	for (struct fwd *f = x->fwds; f; f = f->next) {
		if (!f->ok || f->cancelled || strcmp(f->host, host ? host : "") || (port != f->port && port != f->bound))
			continue;
		f->cancelled = 1;
		fwd_mark(f);
		ssh_message_global_request_reply_success(msg, 0);
		return 0;
	}
	return 1;
}

static int on_message(ssh_session ss, ssh_message msg, void *ud)
{
	(void)ss;
	struct sess *x = ud;
	if (!x->authed || x->dead || !x->conf)
		return 1;
	int type = ssh_message_type(msg), sub = ssh_message_subtype(msg);
	if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_DIRECT_TCPIP)
		return on_direct_tcpip(x, msg);
	if (type == SSH_REQUEST_GLOBAL && sub == SSH_GLOBAL_REQUEST_TCPIP_FORWARD)
		return on_tcpip_forward(x, msg);
	if (type == SSH_REQUEST_GLOBAL && sub == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD)
		return on_cancel_forward(x, msg);
	if (type == SSH_REQUEST_CHANNEL_OPEN)
		log_info("%s: ssh client %s: channel type refused (only direct-tcpip is served)", x->label,
			 x->link.peer);
	return 1;
}

/* ---- forward request streams ---- */

int ssh_forward_request(struct stream *s, const char **host, uint16_t *port)
{
	if (s->ops != &fwd_ops)
		return -1;
	struct fwd *f = (struct fwd *)s;
	*host = f->host;
	*port = f->port;
	return 0;
}

void ssh_forward_reply(struct stream *s, int ok, uint16_t bound_port)
{
	if (s->ops != &fwd_ops)
		return;
	struct fwd *f = (struct fwd *)s;
	if (!f->msg || f->replied)
		return;
	f->replied = 1;
	f->ok = ok ? 1 : 0;
	f->bound = ok ? bound_port : 0;
	if (ok)
		ssh_message_global_request_reply_success(f->msg, bound_port);
	else
		ssh_message_reply_default(f->msg);
}

void ssh_forward_open(struct stream *s, const char *orig_host, uint16_t orig_port, stream_done_cb cb, void *ctx)
{
	struct fwd *f = (struct fwd *)s;
	struct sess *x = f->x;
	struct fwd_open *o = xcalloc(1, sizeof *o);
	o->x = x;
	ssh_link_ref(&x->link);
	o->ch = x->dead ? NULL : ssh_channel_new(x->link.ss);
	snprintf(o->bind_host, sizeof o->bind_host, "%s", f->host);
	o->bind_port = f->bound ? f->bound : f->port;
	snprintf(o->orig_host, sizeof o->orig_host, "%s", orig_host);
	o->orig_port = orig_port;
	o->cb = cb;
	o->ctx = ctx;
	o->next = x->opens;
	x->opens = o;
	sess_schedule(x);
}

static void fwd_read_start(struct stream *s)
{
	struct fwd *f = (struct fwd *)s;
	if ((f->cancelled || f->lost) && !f->ended)
		fwd_mark(f);
}

static void fwd_read_stop(struct stream *s) { (void)s; }

static int fwd_write(struct stream *s, const char *data, size_t len)
{
	(void)s;
	(void)data;
	(void)len;
	errno = EOPNOTSUPP;
	return -1;
}

static void fwd_shutdown(struct stream *s) { (void)s; }

static void fwd_close(struct stream *s)
{
	struct fwd *f = (struct fwd *)s;
	if (f->next)
		f->next->pprev = f->pprev;
	*f->pprev = f->next;
	ssh_link_unref(&f->x->link);
}

static int fwd_fd(struct stream *s)
{
	(void)s;
	return -1;
}

static const struct stream_ops fwd_ops = {
	.name = "ssh-forward-request",
	.read_start = fwd_read_start,
	.read_stop = fwd_read_stop,
	.write = fwd_write,
	.shutdown = fwd_shutdown,
	.close = fwd_close,
	.fd = fwd_fd,
};

/* ---- accepting ---- */

struct ssh_server {
	struct worker *w;
	const struct ssh_server_conf *conf;
	ssh_bind bind;
};

struct ssh_server *ssh_server_new(struct worker *w, const struct ssh_server_conf *conf, char *err, size_t errlen)
{
	ssh_server_global_init();
	ssh_key key = NULL;
	if (ssh_pki_import_privkey_base64(conf->hostkey, NULL, NULL, NULL, &key) != SSH_OK) {
		snprintf(err, errlen, "cannot load the host key");
		return NULL;
	}
	ssh_bind bind = ssh_bind_new();
	/* No file is read on a worker: not libssh's system configuration, and not the moduli file
	 * the group-exchange key exchanges would read (libssh's defaults, less those). */
	bool process_config = false;
	static const char kex[] = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
				  "ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group18-sha512,"
				  "diffie-hellman-group16-sha512,diffie-hellman-group14-sha256";
	if (!bind || ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &process_config) < 0 ||
	    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_KEY_EXCHANGE, kex) < 0 ||
	    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) < 0) {
		snprintf(err, errlen, "cannot set up the ssh server: %s", bind ? ssh_get_error(bind) : "out of memory");
		ssh_key_free(key);
		if (bind)
			ssh_bind_free(bind);
		return NULL;
	}
	struct ssh_server *srv = xcalloc(1, sizeof *srv);
	srv->w = w;
	srv->conf = conf;
	srv->bind = bind;
	return srv;
}

void ssh_server_free(struct ssh_server *srv)
{
	if (!srv)
		return;
	ssh_bind_free(srv->bind);
	free(srv);
}

static void sess_setup_callbacks(struct sess *x)
{
	const struct ssh_server_conf *c = x->conf;
	int methods = (c->password_ok ? (int)SSH_AUTH_METHOD_PASSWORD : 0) | (c->n_keys ? (int)SSH_AUTH_METHOD_PUBLICKEY : 0);
	ssh_set_auth_methods(x->link.ss, methods ? methods : (int)SSH_AUTH_METHOD_NONE);
	ssh_callbacks_init(&x->scb);
	x->scb.userdata = x;
	x->scb.auth_none_function = auth_none;
	x->scb.auth_password_function = auth_password;
	x->scb.auth_pubkey_function = auth_pubkey;
	ssh_set_server_callbacks(x->link.ss, &x->scb);
	ssh_set_message_callback(x->link.ss, on_message, x);
}

void ssh_server_accept(struct ssh_server *srv, int fd, const char *peer)
{
	ssh_session ss = ssh_new();
	if (!ss) {
		close(fd);
		return;
	}
	if (ssh_bind_accept_fd(srv->bind, ss, fd) != SSH_OK) {
		log_warn("%s: ssh: cannot accept %s: %s", srv->conf->label, peer, ssh_get_error(srv->bind));
		if (ssh_get_fd(ss) != fd)
			close(fd);
		ssh_free(ss);
		return;
	}
	ssh_set_blocking(ss, 0);
	struct sess *x = xcalloc(1, sizeof *x);
	ssh_link_init(&x->link, srv->w, ss);
	x->link.kick = sess_kick;
	x->link.release = sess_release;
	snprintf(x->link.peer, sizeof x->link.peer, "%s", peer);
	snprintf(x->label, sizeof x->label, "%s", srv->conf->label);
	x->conf = srv->conf;
	x->conf->hold(x->conf->ud);
	sess_setup_callbacks(x);
	ev_io_init(&x->io, sess_io_cb, fd, EV_READ);
	x->io.data = x;
	x->io_events = EV_READ;
	ev_io_start(srv->w->loop, &x->io);
	ev_timer_init(&x->timer, sess_timeout, srv->conf->handshake_timeout > 0 ? srv->conf->handshake_timeout : 15, 0);
	x->timer.data = x;
	ev_timer_start(srv->w->loop, &x->timer);
	sess_pass(x);   /* sends the banner */
}
