/* Shared by the proxy handlers: options, dial with retries, buffers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/log.h"
#include "handlers/proxy.h"
#include "src/core/util.h"
#include "src/svc/metrics.h"

/* A handler key wins over the service-wide one, as the tcp handler does it. */
static int md_duration2(struct service *svc, const char *key, double def, double *out, struct cfg_err *e)
{
	if (cnode_get(svc->handler.md, key))
		return md_duration(svc->handler.md, key, def, out, e);
	return md_duration(svc->md, key, def, out, e);
}

int proxy_opts_parse(struct service *svc, struct proxy_opts *o, struct cfg_err *e)
{
	long retries = 0;
	const struct cnode *h = cnode_get(svc->cfg, "handler");
	if (md_duration2(svc, "dialTimeout", 15, &o->dial_timeout, e) < 0 ||
	    md_duration2(svc, "readTimeout", 30, &o->read_timeout, e) < 0 ||
	    md_duration2(svc, "idleTimeout", 0, &o->idle_timeout, e) < 0)
		return -1;
	/* handler.retries in YAML; ?retries= lands in the metadata from the command line */
	if (h && cnode_get(h, "retries")) {
		if (md_int(h, "retries", 0, 0, 10, &retries, e) < 0)
			return -1;
	} else if (md_int(svc->handler.md, "retries", 0, 0, 10, &retries, e) < 0) {
		return -1;
	}
	o->retries = (int)retries;
	return router_hash_opt(svc, &o->hash_host, e);
}

struct proxy_dial {
	struct worker *w;
	struct dial_opts d;
	char host[256];
	uint16_t port;
	char hash[320];             /* d.hash points here */
	int left;                   /* retries still allowed */
	struct dial *dial;          /* in flight */
	struct service *svc;        /* whose handler errors a final failure counts in */
	stream_done_cb cb;
	void *ctx;
};

static void proxy_dial_done(void *ctx, struct stream *s, int err)
{
	struct proxy_dial *pd = ctx;
	pd->dial = NULL;
	/* A timeout used the whole budget; only a quick failure is worth another try. */
	if (err && err != ETIMEDOUT && pd->left-- > 0) {
		log_debug("dial %s:%u failed (%s), retrying", pd->host, pd->port, strerror(err));
		pd->dial = router_dial(pd->w, &pd->d, pd->host, pd->port, proxy_dial_done, pd);
		return;
	}
	stream_done_cb cb = pd->cb;
	void *cbctx = pd->ctx;
	if (err)
		svc_metrics_handler_error(pd->svc, pd->w);
	free(pd);
	cb(cbctx, s, err);
}

struct proxy_dial *proxy_dial_start(struct worker *w, const char *peer, const char *client_id, struct service *svc, const struct proxy_opts *o,
				    const char *host, uint16_t port, int dgram, stream_done_cb cb, void *ctx)
{
	struct proxy_dial *pd = xcalloc(1, sizeof *pd);
	pd->w = w;
	pd->d.hash = router_hash_key(peer, client_id, o->hash_host, host, port, pd->hash, sizeof pd->hash);
	pd->d.chain = svc->handler.chain;
	pd->d.svc = svc;
	pd->d.dgram = dgram;
	pd->d.timeout = o->dial_timeout;
	snprintf(pd->host, sizeof pd->host, "%s", host);
	pd->port = port;
	pd->left = o->retries;
	pd->svc = svc;
	pd->cb = cb;
	pd->ctx = ctx;
	pd->dial = router_dial(w, &pd->d, host, port, proxy_dial_done, pd);
	return pd;
}

void proxy_dial_cancel(struct proxy_dial *pd)
{
	if (!pd)
		return;
	router_dial_cancel(pd->dial);
	free(pd);
}

int proxy_refused(const struct service *svc, const char *host, uint16_t port)
{
	return svc->bypass && bypass_match_port(svc->bypass, host, port);
}
