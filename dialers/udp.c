/* dialer udp: the node is reached over a connected UDP socket. */
#include <sys/socket.h>

#include "src/conf/model.h"
#include "src/core/stream.h"

const struct dialer_type dialer_udp = {
	.name = "udp",
	.socktype = SOCK_DGRAM,
};
