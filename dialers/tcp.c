/* dialer tcp: the node is reached over plain TCP; nothing to add on top. */
#include <sys/socket.h>

#include "model.h"

const struct dialer_type dialer_tcp = {
	.name = "tcp",
	.socktype = SOCK_STREAM,
};
