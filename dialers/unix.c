/* dialer unix: the node is a unix stream socket, its addr a path (GOST's "-F unix:///tmp/x.sock"). */
#include <sys/socket.h>

#include "src/conf/model.h"

const struct dialer_type dialer_unix = {
	.name = "unix",
	.socktype = SOCK_STREAM,
	.path_addr = 1,
};
