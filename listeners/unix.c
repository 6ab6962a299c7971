/*
 * listener unix: a unix stream socket at the service's addr, a path (GOST's
 * "unix:///tmp/x.sock" or addr "/tmp/x.sock"). Option mode: the socket file's
 * permissions (0660, "0o660", 432). A socket file left behind by a program
 * that no longer accepts on it is replaced; the file is removed when the
 * service stops, unless another socket took its place meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "src/core/util.h"
#include "src/svc/service.h"

struct unix_listener {
	int mode;                   /* 0: as the umask makes it */
	struct unix_file made;      /* the socket file bind made */
};

/* Go's strconv.ParseInt(v, 0, 32): decimal, 0660 and 0o660 octal, 0x1b0 hex. */
static int parse_mode(const char *v, int *out)
{
	char buf[32], *end;
	if (strlen(v) >= sizeof buf)
		return -1;
	snprintf(buf, sizeof buf, "%s", v);
	int base = 0;
	const char *p = buf;
	if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		p += 2;
		base = 8;
	}
	long m = strtol(p, &end, base);
	if (!*p || *end || m < 0 || m > 07777)
		return -1;
	*out = (int)m;
	return 0;
}

static int unix_init(struct service *svc, struct cfg_err *e)
{
	struct unix_listener *ul = xcalloc(1, sizeof *ul);
	svc->listener.state = ul;
	const char *mode = md_str(svc->listener.md, "mode", NULL);
	if (mode && parse_mode(mode, &ul->mode) < 0)
		return cfg_error(e, svc->listener.md, "listener.metadata.mode",
				 "a file mode is required (0660, 0o660 or a decimal number), got \"%s\"", mode);
	return 0;
}

static void unix_fini(struct service *svc) { free(svc->listener.state); }

static int unix_bind(struct service *svc, int exclusive, char *err, size_t errlen)
{
	struct unix_listener *ul = svc->listener.state;
	char e[400];
	int fd = listen_unix_socket(svc->host, ul->mode, exclusive, &ul->made, e, sizeof e);
	if (fd < 0)
		snprintf(err, errlen, "service %s: %s", svc->name, e);
	return fd;
}

static void unix_unbind(struct service *svc)
{
	struct unix_listener *ul = svc->listener.state;
	unix_socket_remove(svc->host, &ul->made);
}

static int unix_start(struct listener_inst *li) { return stream_listener_start(li, NULL); }

const struct listener_type listener_unix = {
	.name = "unix",
	.socktype = SOCK_STREAM,
	.init = unix_init,
	.fini = unix_fini,
	.start = unix_start,
	.stop = stream_listener_stop,
	.bind = unix_bind,
	.unbind = unix_unbind,
};
