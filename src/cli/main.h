/* Subcommands (portway probe, portway tunnel, ...): src/cli/subcommand.c. */
#ifndef PORTWAY_MAIN_H
#define PORTWAY_MAIN_H
#include <stdio.h>

int subcommand_run(int argc, char **argv);
/* Run services as `portway [-C FILE | -L URL... -F URL...]` would (argv[0] is the program name). */
int portway_main(int argc, char **argv);

/* src/cli/version.c: what --version prints. */
void version_print(FILE *f);

/* src/cli/notify.c: systemd notifications (nothing without NOTIFY_SOCKET). */
struct ev_loop;
void notify_ready(size_t n_services);
void notify_reloading(void);
void notify_reload_done(int ok, size_t n_services);
void notify_stopping(void);
void notify_watchdog_start(struct ev_loop *loop);
void notify_watchdog_stop(struct ev_loop *loop);

/* The services running now (src/cli/main.c), for the metrics endpoint; main thread only. */
struct service;
size_t portway_running(struct service *const **out);
/* src/cli/metrics_http.c: the Prometheus endpoint on the control loop. apply: start, move or
 * stop it as m says (-1 when the new address cannot be bound: the old one stays). */
struct metrics_cfg;
int metrics_http_apply(struct ev_loop *loop, const struct metrics_cfg *m);
void metrics_http_stop(void);       /* shutdown: no more scrapes */
void metrics_http_free(void);       /* with the workers stopped */

/* One per subcommand, each in its file of src/cli/. */
int probe_main(int argc, char **argv);
int tunnel_main(int argc, char **argv);
int gateway_main(int argc, char **argv);
int cert_main(int argc, char **argv);
#endif
