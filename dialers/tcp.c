/* dialer tcp: the node is reached over plain TCP; nothing to add on top. */
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"

const struct dialer_type dialer_tcp = {
	.name = "tcp",
	.socktype = SOCK_STREAM,
};
