#ifndef BOOKSTORE_CRABBITMQ_SHIM_H
#define BOOKSTORE_CRABBITMQ_SHIM_H
// rabbitmq-c 0.11 (Debian librabbitmq-dev): the header is <amqp.h>.
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_framing.h>

/// `amqp_login_with_properties` with SASL PLAIN: the C function is variadic, which Swift cannot call.
static inline amqp_rpc_reply_t bookstore_amqp_login_plain(amqp_connection_state_t state, const char *vhost, int channel_max,
                                                          int frame_max, int heartbeat, const amqp_table_t *properties,
                                                          const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, properties, AMQP_SASL_METHOD_PLAIN,
                                      user, password);
}

/// Answers a broker-initiated `channel.close` (required before the channel number can be reopened).
static inline int bookstore_amqp_send_channel_close_ok(amqp_connection_state_t state, amqp_channel_t channel) {
    amqp_channel_close_ok_t close_ok;
    close_ok.dummy = 0;
    return amqp_send_method(state, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
}

/// Answers a broker-initiated `connection.close`.
static inline int bookstore_amqp_send_connection_close_ok(amqp_connection_state_t state) {
    amqp_connection_close_ok_t close_ok;
    close_ok.dummy = 0;
    return amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
}

/// Whether frames are waiting in the library's buffers (no socket read needed to get the next one).
static inline int bookstore_amqp_has_buffered_frames(amqp_connection_state_t state) {
    return amqp_frames_enqueued(state) || amqp_data_in_buffer(state);
}

#endif
