/*
 * portway: command line, start-up, signals and reload. The main thread runs
 * the control loop (signals, reload, shutdown); workers run the connections.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The sanitizer build checks for leaks at the end of a clean shutdown (see portway_main). */
#if defined(__SANITIZE_ADDRESS__)
#define PW_LEAK_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PW_LEAK_CHECK 1
#endif
#endif
#ifdef PW_LEAK_CHECK
#include <sanitizer/lsan_interface.h>
#endif

#include "config.h"
#include "src/core/log.h"
#include "src/cli/main.h"
#include "src/cli/api.h"
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/core/pipe.h"
#include "src/svc/metrics.h"
#include "src/svc/service.h"
#include "src/core/util.h"

static struct {
	char **config_paths;        /* each -C (a file, "-", inline JSON), merged in order; or the default file */
	int n_config;
	char **L, **F;
	int nL, nF;
	int test_only;
	int debug;                  /* -D: debug, -D -D (GOST's -DD): trace */
	const char *output;         /* -O yaml|json: print the effective configuration */
	const char *api;            /* -api [user:pass@]host:port[?pathPrefix=..&accesslog=..] */
	double grace;               /* seconds open tunnels may drain on SIGTERM */
	int metrics_set;            /* -metrics given: it replaces the file's metrics section */
	struct metrics_cfg metrics;
} opts = { .grace = 10 };

/* The configuration running now (a reference): its tree is what the API reads and changes. */
static struct config *current;
/* The services running now; each holds one reference on itself. */
static struct service **running;
static size_t n_running;
static ev_timer drain_timer;
static ev_tstamp drain_deadline;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: portway [-C FILE] [-L URL]... [-F URL]... [-api ADDR] [-metrics ADDR] [-t] [-O yaml|json] [-D] [-V]\n"
		"       portway SUBCOMMAND ... (see portway help)\n"
		"  -C FILE          configuration (GOST v3 YAML schema): a file, - for stdin, or inline JSON;\n"
		"                   several are merged in order, then -L/-F (default: portway.yaml, gost.yaml)\n"
		"  -L URL           a service, e.g. tcp://:8080/127.0.0.1:80 or udp://:5353/127.0.0.1:53\n"
		"  -F URL           a chain node (one hop per -F, in order), e.g. relay://server:8420\n"
		"  -api ADDR        web API, [user:pass@]host:port[?pathPrefix=/p&accesslog=true]\n"
		"  -metrics ADDR    Prometheus metrics on [user:pass@]host:port[?path=/metrics]\n"
		"                   (off loopback only with user:pass)\n"
		"  -t               test the configuration and exit (0 valid, 2 invalid)\n"
		"  -O yaml|json     print the effective configuration and exit\n"
		"  -D               debug logging (-DD: trace)\n"
		"  -V, --version    print the version, the commit and the library versions\n"
		"  -h, --help       this text\n");
}

static void raise_nofile_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the open-file limit: %s", strerror(errno));
	}
}

static struct config *load_config(struct cfg_err *e)
{
	return config_load_sources(opts.config_paths, opts.n_config, opts.L, opts.nL, opts.F, opts.nF, opts.api, e);
}

static void apply_log_settings(const struct config *c)
{
	if (c->log_level && *c->log_level && !opts.debug)
		log_set_level(c->log_level);
	if (c->log_format && *c->log_format)
		log_set_format(c->log_format);
	if (c->log_output && *c->log_output && log_set_output_rotated(c->log_output, &c->log_rotation) < 0)
		log_error("log.output %s: %s", c->log_output, strerror(errno));
}

/* Release a config none of whose services was started: each holds its own reference too. */
static void drop_unstarted(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		service_unref(cfg->services[i]);
	config_unref(cfg);
}

size_t portway_running(struct service *const **out)
{
	*out = running;
	return n_running;
}

/* The metrics endpoint cfg asks for: -metrics wins over the file's section, as in GOST. */
static const struct metrics_cfg *metrics_wanted(const struct config *cfg)
{
	return opts.metrics_set ? &opts.metrics : &cfg->metrics;
}

static struct service *find_running(const char *name)
{
	for (size_t i = 0; i < n_running; i++)
		if (!strcmp(running[i]->name, name))
			return running[i];
	return NULL;
}

static void close_fds(struct service *s)
{
	for (int i = 0; s->fds && i < worker_count; i++)
		if (s->fds[i] >= 0) {
			close(s->fds[i]);
			s->fds[i] = -1;
		}
}

/*
 * Make the running set match cfg. Unchanged services (same name, same
 * fingerprint) keep their listeners and connections; new and changed ones
 * are bound first, so a config that cannot bind changes nothing.
 */
static int reconcile(struct config *cfg, char *err, size_t errlen)
{
	struct service **next = xcalloc(cfg->n_services + 1, sizeof *next);
	int *is_new = xcalloc(cfg->n_services + 1, sizeof *is_new);
	size_t i;

	for (i = 0; i < cfg->n_services; i++) {
		struct service *s = cfg->services[i], *old = find_running(s->name);
		if (old && !strcmp(old->fingerprint, s->fingerprint)) {
			next[i] = old;
			continue;
		}
		/* Our own running service on the same address (a changed one) shares it during the switch. */
		int ours = 0;
		for (size_t r = 0; r < n_running; r++)
			ours |= running[r]->port == s->port && !strcmp(running[r]->host, s->host) &&
				running[r]->listener.type->socktype == s->listener.type->socktype &&
				!running[r]->listener.type->bind == !s->listener.type->bind;
		if (service_bind(s, !ours, err, errlen) < 0) {
			log_error("%s", err);
			for (size_t k = 0; k < i; k++)
				if (is_new[k])
					close_fds(next[k]);
			free(next);
			free(is_new);
			return -1;
		}
		next[i] = s;
		is_new[i] = 1;
	}
	/* Stop what is gone or changed. */
	for (size_t r = 0; r < n_running; r++) {
		int kept = 0;
		for (i = 0; i < cfg->n_services; i++)
			kept |= next[i] == running[r];
		if (!kept) {
			service_stop(running[r]);
			service_unref(running[r]);
		}
	}
	/* Services of cfg not used (an unchanged twin keeps running) drop their reference. */
	for (i = 0; i < cfg->n_services; i++) {
		if (is_new[i])
			service_start(next[i]);
		else
			service_unref(cfg->services[i]);
	}
	free(running);
	running = next;
	n_running = cfg->n_services;
	free(is_new);
	return 0;
}

/*
 * cfg (the loader's reference, taken) becomes the running configuration, or, when its
 * services cannot bind, is dropped with nothing changed (-1, err says why).
 */
static int install(struct config *cfg, char *err, size_t errlen)
{
	metrics_attach(cfg);
	if (!current && metrics_http_apply(ev_default_loop(0), metrics_wanted(cfg)) < 0) {
		snprintf(err, errlen, "metrics: the endpoint cannot be opened");
		drop_unstarted(cfg);
		return -1;
	}
	if (reconcile(cfg, err, errlen) < 0) {
		drop_unstarted(cfg);
		return -1;
	}
	apply_log_settings(cfg);
	if (current && metrics_http_apply(ev_default_loop(0), metrics_wanted(cfg)) < 0)
		log_error("metrics: the endpoint stays as it was");
	char aerr[512];
	int api_failed = api_configure(&cfg->api, aerr, sizeof aerr) < 0;
	struct config *old = current;
	current = cfg;
	config_unref(old);
	if (api_failed && !old) { /* at start-up: main exits */
		snprintf(err, errlen, "%s", aerr);
		return -1;
	}
	if (api_failed)
		log_error("%s; the API stays where it was", aerr);
	return 0;
}

/* Reload the -C file (SIGHUP, POST /config/reload): 0, or an HTTP status with the reason. */
static int reload_status(char *msg, size_t len)
{
	struct cfg_err e;
	if (!opts.n_config) {
		snprintf(msg, len, "services come from the command line; nothing to reload");
		log_warn("reload: %s", msg);
		return 400;
	}
	for (int i = 0; i < opts.n_config; i++)
		if (!strcmp(opts.config_paths[i], "-")) {
			snprintf(msg, len, "the configuration came from stdin, which cannot be read again; nothing reloaded");
			log_warn("reload: %s", msg);
			return 400;
		}
	log_info("reloading %s%s", opts.config_paths[0], opts.n_config > 1 ? " and the other -C sources" : "");
	notify_reloading();
	struct config *cfg = load_config(&e);
	if (!cfg) {
		log_error("reload rejected, the running configuration stays: %s", e.msg);
		snprintf(msg, len, "%s", e.msg);
		notify_reload_done(0, n_running);
		return 400;
	}
	if (install(cfg, msg, len) < 0) {
		log_error("reload rejected, the running configuration stays");
		notify_reload_done(0, n_running);
		return 409;
	}
	log_info("reload done: %zu services", n_running);
	notify_reload_done(1, n_running);
	return 0;
}

static void reload(void)
{
	char msg[1024];
	log_info("SIGHUP");
	reload_status(msg, sizeof msg);
}

/* ---- what the web API (src/cli/api.c) asks of main ---- */

static const struct config *api_current(void) { return current; }
/* What POST /config saves to: the one -C file, when there is exactly one and it is a file. */
static const char *api_config_path(void)
{
	if (opts.n_config != 1 || !strcmp(opts.config_paths[0], "-") || opts.config_paths[0][0] == '{')
		return NULL;
	return opts.config_paths[0];
}

/* A change through the API: the new tree loaded as -C loads a file, applied as a reload. */
static int api_apply(struct cnode *root, char *msg, size_t len)
{
	struct cfg_err e;
	struct config *cfg = config_from_tree(root, xstrdup(current->path ? current->path : "api"), &e);
	if (!cfg) {
		log_warn("api: change refused: %s", e.msg);
		snprintf(msg, len, "%s", e.msg);
		return 400;
	}
	if (install(cfg, msg, len) < 0) {
		log_error("api: change refused, the running configuration stays");
		return 409;
	}
	log_info("api: configuration changed: %zu services", n_running);
	return 0;
}

static const struct api_ops api_ops = {
	.current = api_current,
	.config_path = api_config_path,
	.apply = api_apply,
	.reload = reload_status,
};

static void drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	long open = workers_connection_total();
	if (open == 0 || ev_now(loop) >= drain_deadline) {
		if (open)
			log_warn("grace period over, closing %ld connections", open);
		ev_break(loop, EVBREAK_ALL);
	}
}

static void shutdown_begin(struct ev_loop *loop)
{
	static int started;
	if (started++) {
		log_warn("second signal: exiting now");
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	notify_stopping();
	notify_watchdog_stop(loop);
	log_info("shutting down: no new connections, %ld open, waiting up to %.0fs", workers_connection_total(),
		 opts.grace);
	metrics_http_stop();
	api_shutdown();
	for (size_t i = 0; i < n_running; i++)
		service_stop(running[i]);
	drain_deadline = ev_now(loop) + opts.grace;
	ev_timer_init(&drain_timer, drain_cb, 0.05, 0.1);
	ev_timer_start(loop, &drain_timer);
}

/* SIGUSR1, as nginx: open the log file again under its name, for logrotate's postrotate (the
 * configuration stays; SIGHUP reloads it). */
static void reopen_log(void)
{
	int r = log_reopen();
	if (r < 0)
		log_error("SIGUSR1: cannot reopen the log file: %s", strerror(errno));
	else if (r > 0)
		log_info("SIGUSR1: the log output is no file, nothing to reopen");
	else
		log_info("SIGUSR1: log file reopened");
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	if (w->signum == SIGHUP)
		reload();
	else if (w->signum == SIGUSR1)
		reopen_log();
	else
		shutdown_begin(loop);
}

static void worker_break_cb(void *arg)
{
	struct worker *w = arg;
	ev_break(w->loop, EVBREAK_ALL);
}

/*
 * Stop the worker loops and wait for their threads, at most timeout seconds in all.
 * Messages posted before (the services' stop_on_worker) run first. -1 if one did not end.
 */
static int stop_workers(int timeout)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout;
	for (int i = 0; i < worker_count; i++)
		worker_post(workers[i], worker_break_cb, workers[i]);
	for (int i = 0; i < worker_count; i++)
		if (pthread_timedjoin_np(workers[i]->thread, NULL, &until)) {
			log_warn("worker %d did not stop in %ds", i, timeout);
			return -1;
		}
	return 0;
}

/*
 * After the control loop: with the workers stopped, drop what main holds, so that
 * the leak check of the sanitizer build sees only memory nobody owns. Connections
 * still open after the grace period keep their service (and its config) alive; they
 * stay reachable from their worker and die with the process.
 */
static void release_all(void)
{
	if (stop_workers(2) < 0)
		return; /* a worker may still use the services: keep them */
	metrics_http_free();
	for (size_t i = 0; i < n_running; i++)
		service_unref(running[i]);
	free(running);
	running = NULL;
	n_running = 0;
	api_fini();
	config_unref(current);
	current = NULL;
	metrics_free_all();
	free(opts.L);
	free(opts.F);
	free(opts.config_paths);
	opts.L = opts.F = NULL;
	opts.config_paths = NULL;
}

/*
 * GOST's -metrics ADDR (also --metrics, =ADDR): taken out of argv before getopt, which would
 * read it as -m -e -t... The values of -C, -L, -F and -O are skipped, never taken for it.
 */
static int take_metrics_flag(int *argc, char **argv)
{
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		const char *name = a[0] == '-' ? a + (a[1] == '-' ? 2 : 1) : NULL;
		if (!strcmp(a, "--")) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (a[0] == '-' && strchr("CLFO", a[1]) && a[1] && !a[2] && i + 1 < *argc) {
			argv[out++] = argv[i++];
			argv[out++] = argv[i];
			continue;
		}
		if (!name || strncmp(name, "metrics", 7) || (name[7] && name[7] != '=')) {
			argv[out++] = argv[i];
			continue;
		}
		const char *val = name[7] == '=' ? name + 8 : (i + 1 < *argc ? argv[++i] : NULL);
		struct cfg_err e;
		if (!val) {
			fprintf(stderr, "portway: -metrics needs an address, e.g. -metrics 127.0.0.1:9000\n");
			return -1;
		}
		if (opts.metrics_set)
			metrics_flag_free(&opts.metrics); /* the last one counts */
		opts.metrics_set = 0;
		if (metrics_flag_parse(val, &opts.metrics, &e) < 0) {
			fprintf(stderr, "portway: configuration error: %s\n", e.msg);
			return -1;
		}
		opts.metrics_set = 1;
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

/* GOST's -api ADDR (also -api=ADDR, --api ADDR): taken out of argv before getopt, which would
 * read -api as -a -p -i. */
static int take_api_flag(int *argc, char **argv)
{
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i], *name = a + (a[0] == '-' && a[1] == '-' ? 2 : 1);
		if (a[0] != '-' || strncmp(name, "api", 3) || (name[3] && name[3] != '=')) {
			argv[out++] = argv[i];
			continue;
		}
		if (name[3] == '=') {
			opts.api = name + 4;
		} else if (i + 1 < *argc) {
			opts.api = argv[++i];
		} else {
			fprintf(stderr, "portway: %s needs an address, e.g. -api 127.0.0.1:18080\n", a);
			return -1;
		}
		if (!*opts.api) {
			fprintf(stderr, "portway: %s: empty address\n", a);
			return -1;
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	if (take_metrics_flag(&argc, argv) < 0 || take_api_flag(&argc, argv) < 0)
		return -1;
	opts.L = xcalloc((size_t)argc, sizeof *opts.L);
	opts.F = xcalloc((size_t)argc, sizeof *opts.F);
	opts.config_paths = xcalloc((size_t)argc + 1, sizeof *opts.config_paths);
	while ((c = getopt_long(argc, argv, "C:L:F:tO:DVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'C':
			opts.config_paths[opts.n_config++] = optarg;
			break;
		case 'L':
			opts.L[opts.nL++] = optarg;
			break;
		case 'F':
			opts.F[opts.nF++] = optarg;
			break;
		case 't':
			opts.test_only = 1;
			break;
		case 'O':
			if (strcmp(optarg, "yaml") && strcmp(optarg, "json")) {
				fprintf(stderr, "portway: -O %s: expected yaml or json\n", optarg);
				return -1;
			}
			opts.output = optarg;
			break;
		case 'D':
			log_set_level(opts.debug++ ? "trace" : "debug");
			break;
		case 'V':
			version_print(stdout);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "portway: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	if (!opts.n_config && !opts.nL && !opts.api) {
		/* As GOST: with nothing named, the usual file if there is one. */
		static char def[1024];
		if (!config_default_path(def, sizeof def)) {
			fprintf(stderr, "portway: nothing to run: give -C FILE or at least one -L URL (no %s/portway/portway.yaml,"
					" and no gost.yaml in /etc/gost, ~/.gost or here)\n", SYSCONFDIR);
			usage(stderr);
			return -1;
		}
		opts.config_paths[opts.n_config++] = def;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && argv[1][0] != '-')
		return subcommand_run(argc - 1, argv + 1);
	return portway_main(argc, argv);
}

int portway_main(int argc, char **argv)
{
	struct cfg_err e;
	struct ev_loop *loop;
	ev_signal sig_term, sig_int, sig_hup, sig_usr1;

	optind = 1;
	if (parse_args(argc, argv) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	struct config *cfg = load_config(&e);
	if (!cfg) {
		fprintf(stderr, "portway: configuration error: %s\n", e.msg);
		return 2;
	}
	if (opts.output) {
		int r = cnode_write(cfg->root, stdout, !strcmp(opts.output, "json"));
		drop_unstarted(cfg);
		return r < 0 ? 1 : 0;
	}
	if (opts.test_only) {
		printf("configuration OK: %zu services, %zu chains\n", cfg->n_services, cfg->n_chains);
		drop_unstarted(cfg);
		return 0;
	}
	apply_log_settings(cfg);
	raise_nofile_limit();
	const char *grace = getenv("PORTWAY_GRACE");
	if (grace && duration_parse(grace) >= 0)
		opts.grace = duration_parse(grace);
	int n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	workers_init(n > 0 ? n : 1);

	loop = ev_default_loop(0);
	ev_signal_init(&sig_term, signal_cb, SIGTERM);
	ev_signal_init(&sig_int, signal_cb, SIGINT);
	ev_signal_init(&sig_hup, signal_cb, SIGHUP);
	ev_signal_start(loop, &sig_term);
	ev_signal_start(loop, &sig_int);
	ev_signal_start(loop, &sig_hup);
	ev_signal_init(&sig_usr1, signal_cb, SIGUSR1);
	ev_signal_start(loop, &sig_usr1);

	workers_start_threads();
	api_init(loop, &api_ops);
	char err[1024];
	if (install(cfg, err, sizeof err) < 0) {
		log_error("%s", err);
		return 1;
	}
	log_info("portway %s running with %d workers", PACKAGE_VERSION, worker_count);
	notify_ready(n_running);
	notify_watchdog_start(loop);
	ev_run(loop, 0);
	release_all();
	log_info("bye");
	log_flush();
	fflush(NULL);
#ifdef PW_LEAK_CHECK
	/* _exit below skips LeakSanitizer's exit-time check: run it here (it exits non-zero on a leak). */
	__lsan_do_leak_check();
#endif
	/*
	 * _exit, not exit: no atexit handlers (OpenSSL's cleanup among them) run while
	 * the gateway's store thread or a worker that did not stop may still use them,
	 * and connections left after the grace period die with the process at once.
	 */
	_exit(0);
}
