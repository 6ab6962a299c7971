/* dialer udp: the node is reached over a connected UDP socket. */
#include <sys/socket.h>

#include "model.h"

const struct dialer_type dialer_udp = {
	.name = "udp",
	.socktype = SOCK_DGRAM,
};
