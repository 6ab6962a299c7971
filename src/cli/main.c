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
#include "src/conf/model.h"
#include "src/core/stream.h"
#include "src/core/pipe.h"
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
	double grace;               /* seconds open tunnels may drain on SIGTERM */
} opts = { .grace = 10 };

/* The services running now; each holds one reference on itself. */
static struct service **running;
static size_t n_running;
static ev_timer drain_timer;
static ev_tstamp drain_deadline;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: portway [-C FILE] [-L URL]... [-F URL]... [-t] [-O yaml|json] [-D] [-V]\n"
		"       portway SUBCOMMAND ... (see portway help)\n"
		"  -C FILE          configuration (GOST v3 YAML schema): a file, - for stdin, or inline JSON;\n"
		"                   several are merged in order, then -L/-F (default: portway.yaml, gost.yaml)\n"
		"  -L URL           a service, e.g. tcp://:8080/127.0.0.1:80 or udp://:5353/127.0.0.1:53\n"
		"  -F URL           a chain node (one hop per -F, in order), e.g. relay://server:8420\n"
		"  -t               test the configuration and exit (0 valid, 2 invalid)\n"
		"  -O yaml|json     print the effective configuration and exit\n"
		"  -D               debug logging (-DD: trace)\n"
		"  -V, --version    print the version, the commit and the library versions\n"
		"  -h, --help       this text\n");
}

/* GOST flags portway does not implement yet: refused by name (exit 2), never taken for
 * something else (getopt would read -api as -a -p -i). */
static int unimplemented_flag(const char *arg)
{
	static const char *const flags[] = { "api", "metrics" };
	const char *name = arg + (arg[1] == '-' ? 2 : 1);
	for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
		size_t n = strlen(flags[i]);
		if (arg[0] == '-' && !strncmp(name, flags[i], n) && (!name[n] || name[n] == '=')) {
			fprintf(stderr, "portway: %s: GOST's -%s service is not implemented in portway yet\n", arg,
				flags[i]);
			return 1;
		}
	}
	return 0;
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
	return config_load_sources(opts.config_paths, opts.n_config, opts.L, opts.nL, opts.F, opts.nF, e);
}

static void apply_log_settings(const struct config *c)
{
	if (c->log_level && *c->log_level && !opts.debug)
		log_set_level(c->log_level);
	if (c->log_format && *c->log_format)
		log_set_format(c->log_format);
	if (c->log_output && *c->log_output && log_set_output(c->log_output) < 0)
		log_error("log.output %s: %s", c->log_output, strerror(errno));
}

/* Release a config none of whose services was started: each holds its own reference too. */
static void drop_unstarted(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		service_unref(cfg->services[i]);
	config_unref(cfg);
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
static int reconcile(struct config *cfg)
{
	struct service **next = xcalloc(cfg->n_services + 1, sizeof *next);
	int *is_new = xcalloc(cfg->n_services + 1, sizeof *is_new);
	char err[512];
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
		if (service_bind(s, !ours, err, sizeof err) < 0) {
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

static void reload(void)
{
	struct cfg_err e;
	if (!opts.n_config) {
		log_warn("SIGHUP: services come from the command line; nothing to reload");
		return;
	}
	for (int i = 0; i < opts.n_config; i++)
		if (!strcmp(opts.config_paths[i], "-")) {
			log_warn("SIGHUP: the configuration came from stdin, which cannot be read again; nothing reloaded");
			return;
		}
	log_info("SIGHUP: reloading %s%s", opts.config_paths[0], opts.n_config > 1 ? " and the other -C sources" : "");
	notify_reloading();
	struct config *cfg = load_config(&e);
	if (!cfg) {
		log_error("reload rejected, the running configuration stays: %s", e.msg);
		notify_reload_done(0, n_running);
		return;
	}
	if (reconcile(cfg) < 0) {
		log_error("reload rejected, the running configuration stays");
		drop_unstarted(cfg);
		notify_reload_done(0, n_running);
		return;
	}
	apply_log_settings(cfg);
	config_unref(cfg); /* the loader's reference; services hold the rest */
	log_info("reload done: %zu services", n_running);
	notify_reload_done(1, n_running);
}

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
	for (size_t i = 0; i < n_running; i++)
		service_stop(running[i]);
	drain_deadline = ev_now(loop) + opts.grace;
	ev_timer_init(&drain_timer, drain_cb, 0.05, 0.1);
	ev_timer_start(loop, &drain_timer);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	if (w->signum == SIGHUP)
		reload();
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
	for (size_t i = 0; i < n_running; i++)
		service_unref(running[i]);
	free(running);
	running = NULL;
	n_running = 0;
	free(opts.L);
	free(opts.F);
	free(opts.config_paths);
	opts.L = opts.F = NULL;
	opts.config_paths = NULL;
}

static int parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	for (int i = 1; i < argc; i++)
		if (unimplemented_flag(argv[i]))
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
	if (!opts.n_config && !opts.nL) {
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
	ev_signal sig_term, sig_int, sig_hup;

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

	workers_start_threads();
	if (reconcile(cfg) < 0) {
		drop_unstarted(cfg);
		return 1;
	}
	config_unref(cfg);
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
