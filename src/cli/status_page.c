/* The proxy's status page and the JSON it shows (see status_page.h). */
#include "src/cli/status_page.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "src/cli/main.h"
#include "src/conf/model.h"
#include "src/core/util.h"
#include "src/core/worker.h"
#include "src/svc/metrics.h"
#include "src/svc/service.h"

#include "config.h"

static json_t *service_json(const struct service *svc)
{
	struct svc_totals t = { 0 };
	if (svc->metrics)
		svc_metrics_sum(svc->metrics, &t);
	json_t *j = json_object();
	json_object_set_new(j, "name", json_string(svc->name));
	json_object_set_new(j, "addr", json_string(svc->addr));
	json_object_set_new(j, "handler", json_string(svc->handler.type ? svc->handler.type->name : ""));
	json_object_set_new(j, "listener", json_string(svc->listener.type ? svc->listener.type->name : ""));
	json_object_set_new(j, "status", json_string(svc->running ? "ready" : "stopped"));
	json_object_set_new(j, "chain", svc->handler.chain ? json_string(svc->handler.chain->name) : json_null());
	json_object_set_new(j, "requests", json_integer((json_int_t)t.requests));
	json_object_set_new(j, "inFlight", json_integer((json_int_t)(t.requests - t.ended)));
	json_object_set_new(j, "errors", json_integer((json_int_t)t.errors));
	json_object_set_new(j, "inputBytes", json_integer((json_int_t)t.input));
	json_object_set_new(j, "outputBytes", json_integer((json_int_t)t.output));
	json_object_set_new(j, "avgDurationSeconds", json_real(t.ended ? (double)t.duration_us / 1e6 / (double)t.ended : 0));
	return j;
}

/* A node's health as the router sees it: down while it has failed maxFails times and its
 * failTimeout has not passed. */
static json_t *node_json(const struct hop *h, struct node *n, const struct node_metrics *m, double now)
{
	struct node_totals t = { 0 };
	int fails = __atomic_load_n(&n->fails, __ATOMIC_RELAXED);
	double until;
	__atomic_load(&n->down_until, &until, __ATOMIC_RELAXED);
	int down = h->sel.max_fails > 0 && fails >= h->sel.max_fails && now < until;
	if (m)
		node_metrics_sum(m, &t);
	json_t *j = json_object();
	json_object_set_new(j, "name", json_string(n->name ? n->name : ""));
	json_object_set_new(j, "addr", json_string(n->addr ? n->addr : ""));
	json_object_set_new(j, "connector", json_string(n->connector.type ? n->connector.type->name : ""));
	json_object_set_new(j, "dialer", json_string(n->dialer.type ? n->dialer.type->name : ""));
	json_object_set_new(j, "status", json_string(down ? "down" : "up"));
	json_object_set_new(j, "fails", json_integer(fails));
	json_object_set_new(j, "downForSeconds", json_real(down ? until - now : 0));
	json_object_set_new(j, "connects", json_integer((json_int_t)t.connects));
	json_object_set_new(j, "errors", json_integer((json_int_t)t.errors));
	json_object_set_new(j, "avgConnectSeconds",
			    json_real(t.connects ? (double)t.connect_us / 1e6 / (double)t.connects : 0));
	return j;
}

static json_t *chain_json(const struct chain *c, double now)
{
	json_t *hops = json_array();
	size_t k = 0; /* c->metrics: one per node, hop after hop */
	for (size_t i = 0; i < c->n_hops; i++) {
		const struct hop *h = c->hops[i];
		json_t *nodes = json_array(), *hj = json_object();
		for (size_t j = 0; j < h->n_nodes; j++, k++)
			json_array_append_new(nodes, node_json(h, h->nodes[j], c->metrics ? c->metrics[k] : NULL, now));
		json_object_set_new(hj, "name", json_string(h->name ? h->name : ""));
		json_object_set_new(hj, "nodes", nodes);
		json_array_append_new(hops, hj);
	}
	json_t *j = json_object();
	json_object_set_new(j, "name", json_string(c->name));
	json_object_set_new(j, "hops", hops);
	return j;
}

static void add_chain_once(json_t *chains, const struct chain *c, double now)
{
	size_t i;
	json_t *v;
	if (!c)
		return;
	json_array_foreach(chains, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "name")), c->name))
			return;
	json_array_append_new(chains, chain_json(c, now));
}

static json_t *process_json(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	json_t *j = json_object();
	json_object_set_new(j, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(j, "pid", json_integer(getpid()));
	json_object_set_new(j, "workers", json_integer(worker_count));
	json_object_set_new(j, "connections", json_integer(workers_connection_total()));
	json_object_set_new(j, "residentBytes", json_integer((json_int_t)rss * sysconf(_SC_PAGESIZE)));
	return j;
}

json_t *status_snapshot(void)
{
	struct service *const *run;
	size_t n = portway_running(&run);
	double now = mono_now();
	json_t *services = json_array(), *chains = json_array(), *j = json_object();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(services, service_json(run[i]));
		add_chain_once(chains, run[i]->handler.chain, now);
		add_chain_once(chains, run[i]->listener.chain, now);
	}
	json_object_set_new(j, "process", process_json());
	json_object_set_new(j, "services", services);
	json_object_set_new(j, "chains", chains);
	return j;
}

/* Text goes in with textContent only: names come from the configuration and could hold markup. */
const char status_page_html[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\"><head><meta charset=\"utf-8\"><title>portway status</title>\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<style>\n"
	"body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\n"
	"h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}\n"
	"table{border-collapse:collapse;min-width:60%}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}\n"
	"th{background:#eef}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
	".up,.ready{background:#d9f7d9}.down,.stopped{background:#f7d9d9}#err{color:#a00}\n"
	"</style></head><body>\n"
	"<h1>portway <span id=\"version\"></span></h1>\n"
	"<p id=\"process\"></p><p id=\"err\"></p>\n"
	"<h2>Services</h2>\n"
	"<table id=\"services\"><thead><tr><th>service</th><th>address</th><th>listener</th><th>handler</th>"
	"<th>chain</th><th>status</th><th>requests</th><th>in flight</th><th>errors</th><th>bytes in</th>"
	"<th>bytes out</th></tr></thead><tbody></tbody></table>\n"
	"<h2>Chains</h2>\n"
	"<table id=\"nodes\"><thead><tr><th>chain</th><th>hop</th><th>node</th><th>address</th><th>transport</th>"
	"<th>status</th><th>fails</th><th>connects</th><th>errors</th><th>avg connect</th></tr></thead>"
	"<tbody></tbody></table>\n"
	"<script>\n"
	"'use strict';\n"
	"function bytes(n){const u=['B','KiB','MiB','GiB','TiB'];let i=0;while(n>=1024&&i<u.length-1){n/=1024;i++}"
	"return (i?n.toFixed(1):n)+' '+u[i]}\n"
	"function row(tbody,cells,cls){const tr=document.createElement('tr');"
	"for(const [v,c] of cells){const td=document.createElement('td');td.textContent=v;if(c)td.className=c;"
	"tr.appendChild(td)}if(cls)tr.dataset.status=cls;tbody.appendChild(tr)}\n"
	"function render(s){\n"
	" document.getElementById('version').textContent=s.process.version;\n"
	" document.getElementById('process').textContent='pid '+s.process.pid+', '+s.process.workers+' workers, '"
	"+s.process.connections+' connections, '+bytes(s.process.residentBytes)+' resident';\n"
	" const sv=document.querySelector('#services tbody');sv.replaceChildren();\n"
	" for(const x of s.services)row(sv,[[x.name],[x.addr],[x.listener],[x.handler],[x.chain||'direct'],"
	"[x.status,x.status],[x.requests,'num'],[x.inFlight,'num'],[x.errors,'num'],[bytes(x.inputBytes),'num'],"
	"[bytes(x.outputBytes),'num']],x.status);\n"
	" const nd=document.querySelector('#nodes tbody');nd.replaceChildren();\n"
	" for(const c of s.chains)for(const h of c.hops)for(const n of h.nodes)row(nd,[[c.name],[h.name],[n.name],"
	"[n.addr],[n.connector+'+'+n.dialer],[n.status,n.status],[n.fails,'num'],[n.connects,'num'],[n.errors,'num'],"
	"[(n.avgConnectSeconds*1000).toFixed(1)+' ms','num']],n.status);\n"
	" document.body.dataset.updated=Date.now();\n"
	"}\n"
	"async function refresh(){try{const r=await fetch('status.json',{cache:'no-store'});"
	"if(!r.ok)throw new Error(r.status+' '+r.statusText);render(await r.json());"
	"document.getElementById('err').textContent=''}catch(e){document.getElementById('err').textContent="
	"'cannot read status.json: '+e.message}}\n"
	"refresh();setInterval(refresh,2000);\n"
	"</script></body></html>\n";
