#include "src/svc/accept_steps.h"

#include <stdio.h>

#include "src/svc/service.h"

int accept_steps_init(struct accept_steps *a, struct service *svc, int with_tls, int with_ws,
		      void (*done)(struct service *svc, struct stream *s), struct cfg_err *e)
{
	a->done = done;
	if (with_tls) {
		char label[160];
		const struct cnode *where = cnode_get(svc->cfg, "listener");
		snprintf(label, sizeof label, "service %s", svc->name);
		a->tls = tls_conf_server(&svc->listener.tls, svc->listener.md, where ? where : svc->cfg, label, e);
		if (!a->tls)
			return -1;
	}
	a->with_ws = with_ws;
	return with_ws ? ws_opts_parse(&a->ws, svc->listener.md, 0, e) : 0;
}

void accept_steps_fini(struct accept_steps *a)
{
	tls_conf_unref(a->tls);
	a->tls = NULL;
	if (a->with_ws)
		ws_opts_free(&a->ws);
}

/* Each step's stream carries the service reference the accepted socket had, so svc is alive. */
static void ws_ready(void *ctx, struct stream *s, int err)
{
	struct service *svc = ctx;
	struct accept_steps *a = svc->listener.state;
	(void)err;
	if (s)
		a->done(svc, s);
}

static void after_tls(struct service *svc, struct stream *s)
{
	struct accept_steps *a = svc->listener.state;
	if (a->with_ws)
		ws_server_accept(&a->ws, s, ws_ready, svc);
	else
		a->done(svc, s);
}

static void tls_ready(void *ctx, struct stream *s, int err)
{
	(void)err;
	if (s)
		after_tls(ctx, s);
}

static void on_accept(struct listener_inst *li, struct stream *s)
{
	struct accept_steps *a = li->svc->listener.state;
	if (a->tls)
		tls_accept(a->tls, s, tls_ready, li->svc);
	else
		after_tls(li->svc, s);
}

int accept_steps_listen(struct listener_inst *li) { return stream_listener_start(li, on_accept); }
