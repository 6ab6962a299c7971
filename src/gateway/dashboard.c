/* The gateway's status page: subdomains with their idle workers and waiting clients per kind,
 * port forwards, counters and the latest connect/disconnect events (gateway.h). On worker 0,
 * where the gateway's state lives, like every API route. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "src/core/util.h"
#include "src/gateway/gateway.h"

void gw_event_record(struct gw *g, const struct gw_pool *p, int connected)
{
	struct gw_event *e = &g->events[g->n_events++ % GW_EVENTS];
	e->when = time(NULL);
	e->connected = connected;
	e->kind = p->kind;
	snprintf(e->name, sizeof e->name, "%s", p->name);
}

/* One entry per subdomain, the relay and tunnel pools side by side. */
static json_t *subdomains_json(const struct gw *g, ev_tstamp now)
{
	json_t *list = json_array();
	for (const struct gw_pool *p = g->pools; p; p = p->next) {
		json_t *e = NULL, *v;
		size_t i;
		json_array_foreach(list, i, v)
			if (!strcmp(json_string_value(json_object_get(v, "subdomain")), p->name))
				e = v;
		if (!e) {
			e = json_object();
			json_object_set_new(e, "subdomain", json_string(p->name));
			json_object_set_new(e, "relayIdle", json_integer(0));
			json_object_set_new(e, "relayWaiting", json_integer(0));
			json_object_set_new(e, "tunnelIdle", json_integer(0));
			json_object_set_new(e, "tunnelWaiting", json_integer(0));
			json_object_set_new(e, "idleSeconds", json_real(now - p->last_activity));
			json_array_append_new(list, e);
		}
		const char *k = p->kind == ONIFAST_RELAY ? "relay" : "tunnel";
		char idle[16], waiting[16];
		snprintf(idle, sizeof idle, "%sIdle", k);
		snprintf(waiting, sizeof waiting, "%sWaiting", k);
		json_object_set_new(e, idle, json_integer(p->count));
		json_object_set_new(e, waiting, json_integer(p->waiting));
		double quiet = now - p->last_activity;
		if (quiet < json_real_value(json_object_get(e, "idleSeconds")))
			json_object_set_new(e, "idleSeconds", json_real(quiet));
	}
	return list;
}

static json_t *forwards_json(const struct gw *g)
{
	json_t *list = json_array();
	for (const struct gw_forward *f = g->forwards; f; f = f->next)
		json_array_append_new(list, json_pack("{s:i, s:s, s:i, s:b}", "listenPort", f->pf.listen_port, "subdomain",
						      f->pf.tunnel_host, "targetPort", f->pf.target_port, "active",
						      f->pf.active));
	return list;
}

static json_t *events_json(const struct gw *g)
{
	json_t *list = json_array();
	unsigned n = g->n_events < GW_EVENTS ? g->n_events : GW_EVENTS;
	for (unsigned i = 0; i < n; i++) { /* newest first */
		const struct gw_event *e = &g->events[(g->n_events - 1 - i) % GW_EVENTS];
		char when[40];
		struct tm tm;
		gmtime_r(&e->when, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "time", when, "event",
						      e->connected ? "connected" : "disconnected", "subdomain", e->name,
						      "kind", gw_kind_name(e->kind)));
	}
	return list;
}

void gw_dashboard_json(struct gw *g, struct stream *s)
{
	ev_tstamp now = ev_now(g->w->loop);
	json_t *stats = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "requests", (json_int_t)g->stats.requests, "tunnels",
				  (json_int_t)g->stats.tunnels, "noWorker", (json_int_t)g->stats.no_worker,
				  "agentsAccepted", (json_int_t)g->stats.agents_accepted, "agentsRefused",
				  (json_int_t)g->stats.agents_refused, "webhookFailures",
				  (json_int_t)g->stats.webhook_failures);
	json_t *j = json_pack("{s:s, s:f, s:o, s:o, s:o, s:o}", "version", PACKAGE_VERSION, "uptimeSeconds",
			      now - g->started, "stats", stats, "subdomains", subdomains_json(g, now), "forwards",
			      forwards_json(g), "events", events_json(g));
	char *body = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	gw_reply(s, 200, body ? body : "{}");
	free(body);
}

/* Names come from agents and the database: the page sets them with textContent only. */
static const char page[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\"><head><meta charset=\"utf-8\"><title>portway gateway</title>\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<style>\n"
	"body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}\n"
	"table{border-collapse:collapse;min-width:50%}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}\n"
	"th{background:#eef}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
	".connected,.active{background:#d9f7d9}.disconnected,.none{background:#f7d9d9}#err{color:#a00}\n"
	"</style></head><body>\n"
	"<h1>portway gateway <span id=\"version\"></span></h1><p id=\"summary\"></p><p id=\"err\"></p>\n"
	"<h2>Subdomains</h2><table id=\"subdomains\"><thead><tr><th>subdomain</th><th>web workers idle</th>"
	"<th>web clients waiting</th><th>tunnel workers idle</th><th>tunnel clients waiting</th><th>quiet for</th>"
	"</tr></thead><tbody></tbody></table>\n"
	"<h2>Tunnels</h2><table id=\"tunnels\"><thead><tr><th>subdomain</th><th>created</th><th>workers</th></tr>"
	"</thead><tbody></tbody></table>\n"
	"<h2>Port forwards</h2><table id=\"forwards\"><thead><tr><th>port</th><th>subdomain</th><th>target port</th>"
	"<th>state</th></tr></thead><tbody></tbody></table>\n"
	"<h2>Recent events</h2><table id=\"events\"><thead><tr><th>time</th><th>event</th><th>subdomain</th>"
	"<th>kind</th></tr></thead><tbody></tbody></table>\n"
	"<script>\n"
	"'use strict';\n"
	"function row(id,cells,status){const tb=document.querySelector('#'+id+' tbody');const tr=document.createElement('tr');"
	"for(const [v,c] of cells){const td=document.createElement('td');td.textContent=v;if(c)td.className=c;"
	"tr.appendChild(td)}if(status)tr.dataset.status=status;tb.appendChild(tr)}\n"
	"function clear(id){document.querySelector('#'+id+' tbody').replaceChildren()}\n"
	"async function get(path){const r=await fetch(path,{cache:'no-store'});if(!r.ok)throw new Error(path+': '+r.status);"
	"return r.json()}\n"
	"async function refresh(){try{\n"
	" const d=await get('dashboard.json');\n"
	" document.getElementById('version').textContent=d.version;\n"
	" const st=d.stats;document.getElementById('summary').textContent='up '+Math.round(d.uptimeSeconds)+' s, '"
	"+st.requests+' web requests, '+st.tunnels+' tunnel connections, '+st.noWorker+' without a worker, '"
	"+st.agentsAccepted+' agent connections accepted, '+st.agentsRefused+' refused';\n"
	" const workers={};\n"
	" clear('subdomains');for(const x of d.subdomains){workers[x.subdomain]=x.relayIdle+x.tunnelIdle;"
	"row('subdomains',[[x.subdomain],[x.relayIdle,'num'],[x.relayWaiting,'num'],[x.tunnelIdle,'num'],"
	"[x.tunnelWaiting,'num'],[Math.round(x.idleSeconds)+' s','num']],workers[x.subdomain]?'active':'none')}\n"
	" clear('forwards');for(const f of d.forwards)row('forwards',[[f.listenPort,'num'],[f.subdomain],"
	"[f.targetPort,'num'],[f.active?'listening':'inactive']],f.active?'active':'none');\n"
	" clear('events');for(const e of d.events)row('events',[[e.time],[e.event,e.event],[e.subdomain],[e.kind]],e.event);\n"
	" const t=await get('tunnels/list');clear('tunnels');\n"
	" for(const x of (Array.isArray(t)?t:(t.tunnels||[])))row('tunnels',[[x.subdomain],"
	"[new Date(x.created_at*1000).toISOString()],[workers[x.subdomain]||0,'num']],workers[x.subdomain]?'active':'none');\n"
	" document.getElementById('err').textContent='';document.body.dataset.updated=Date.now();\n"
	"}catch(e){document.getElementById('err').textContent='cannot read the gateway state: '+e.message}}\n"
	"refresh();setInterval(refresh,2000);\n"
	"</script></body></html>\n";

void gw_dashboard_page(struct gw *g, struct stream *s)
{
	(void)g;
	gw_reply_typed(s, 200, "text/html; charset=utf-8", NULL, page, sizeof page - 1);
}
