/* Port forwarding handlers' shared implementation (src/svc/port_forward.h). */
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "src/core/util.h"
#include "proto/proxy_protocol.h"
#include "src/svc/port_forward.h"
#include "src/svc/proxy_header.h"
#include "src/svc/router.h"

struct port_forward {
	const struct forward_texts *texts;
	int dgram;
	double idle_timeout;
	double dial_timeout;
	int proxy_protocol;         /* handler proxyProtocol: 1 or 2 sends that header first; 0 none */
};

/* The state goes in before any check fails: fini frees it either way. */
static struct port_forward *forward_new(struct service *svc, const struct forward_texts *t, int dgram)
{
	struct port_forward *pf = xcalloc(1, sizeof *pf);
	pf->texts = t;
	pf->dgram = dgram;
	svc->handler.state = pf;
	return pf;
}

static int forwarder_check(struct service *svc, const struct forward_texts *t, struct cfg_err *e)
{
	if (!svc->forwarder || !svc->forwarder->n_nodes)
		return cfg_error(e, svc->cfg, "forwarder", "%s", t->no_forwarder);
	return 0;
}

int stream_forward_init(struct service *svc, const struct forward_texts *t, struct cfg_err *e)
{
	struct port_forward *pf = forward_new(svc, t, 0);
	/* GOST: without targets a stream goes through the chain to its last node, whose connector
	 * (forward, unix) hands it on as is: "-L tcp://:8080 -F unix:///run/app.sock" */
	if (!svc->handler.chain && forwarder_check(svc, t, e) < 0)
		return -1;
	if (md_duration(svc->handler.md, "idleTimeout", 0, &pf->idle_timeout, e) < 0 ||
	    md_duration(svc->handler.md, "dialTimeout", 10, &pf->dial_timeout, e) < 0)
		return -1;
	long ppv;
	if (md_int(svc->handler.md, "proxyProtocol", 0, 0, 2, &ppv, e) < 0)
		return -1;
	pf->proxy_protocol = (int)ppv;
	if (!cnode_get(svc->handler.md, "idleTimeout") &&
	    md_duration(svc->md, "idleTimeout", 0, &pf->idle_timeout, e) < 0)
		return -1;
	return 0;
}

/* The first of handler, service (and listener) metadata that sets ttl is the one read. */
static int ttl_option(struct service *svc, const struct forward_ttl *ttl, double *out, struct cfg_err *e)
{
	if (cnode_get(svc->handler.md, "ttl"))
		return md_duration(svc->handler.md, "ttl", ttl->def, out, e);
	if (cnode_get(svc->md, "ttl") || !ttl->from_listener)
		return md_duration(svc->md, "ttl", ttl->def, out, e);
	return md_duration(svc->listener.md, "ttl", ttl->def, out, e);
}

int datagram_forward_init(struct service *svc, const struct forward_texts *t, const struct forward_ttl *ttl,
			  struct cfg_err *e)
{
	struct port_forward *pf = forward_new(svc, t, 1);
	double session_ttl;
	if (forwarder_check(svc, t, e) < 0 || ttl_option(svc, ttl, &session_ttl, e) < 0)
		return -1;
	if (session_ttl <= 0 && ttl->zero_is_default)
		session_ttl = ttl->def;
	/* A session that has seen no datagram either way for ttl ends; so does a dial that long. */
	pf->dial_timeout = session_ttl;
	pf->idle_timeout = session_ttl;
	return 0;
}

void port_forward_fini(struct service *svc) { free(svc->handler.state); }

/* Runs before the pipe starts: the PROXY header (GOST writes it on the dialed connection,
 * through the chain, to the target) goes ahead of the client's bytes. */
static void forward_report(void *ctx, struct stream *client, struct stream *target, int err)
{
	struct service *svc = ctx;
	const struct port_forward *pf = svc->handler.state;
	const struct forward_texts *t = pf->texts;
	if (err) {
		log_info("%s %s: %s: %s: %s", t->log_prefix, svc->name, client->peer, t->unreachable, strerror(err));
		return;
	}
	log_debug("%s %s: %s%s -> %s", t->log_prefix, svc->name, t->session, client->peer, target->peer);
	if (pf->proxy_protocol) {
		uint8_t hdr[PP_HEADER_MAX];
		long n = proxy_header_for(client, pf->proxy_protocol, hdr, sizeof hdr);
		/* a failed write shows at the pipe's first write, which ends the connection */
		if (n > 0)
			stream_write(target, hdr, (size_t)n);
	}
}

void port_forward_handle(struct service *svc, struct stream *client)
{
	struct port_forward *pf = svc->handler.state;
	router_dial_pipe(client, &(struct dial_pipe){
		.dial = { .chain = svc->handler.chain, .dgram = pf->dgram, .timeout = pf->dial_timeout, .svc = svc },
		.forwarder = svc->forwarder && svc->forwarder->n_nodes ? svc->forwarder : NULL,
		.host = "", /* no forwarder: the chain's end, as GOST's ":0" */
		.idle_timeout = pf->idle_timeout,
		.report = forward_report,
		.ctx = svc,
	});
}
