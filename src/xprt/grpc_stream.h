/*
 * GOST's gRPC tunnel as a stream: a filter over one HTTP/2 stream of the call
 * GostTunel.Tunnel (src/xprt/h2_session.h), whose reads are the data of the peer's
 * Chunk messages and whose writes go out as Chunk messages (proto/grpc.h). The half close
 * is the call's: END_STREAM from the client, the trailers (grpc-status 0) from the server.
 * A malformed message is STREAM_EV_ERROR (EPROTO) and logged.
 */
#ifndef PORTWAY_XPRT_GRPC_STREAM_H
#define PORTWAY_XPRT_GRPC_STREAM_H
#include "src/core/stream.h"

/* lower: an HTTP/2 stream, owned from now on (answered already on the server side). */
struct stream *grpc_stream_new(struct stream *lower);

#endif
