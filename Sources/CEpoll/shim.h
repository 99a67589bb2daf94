// epoll and eventfd of glibc (libc6-dev), which Swift's Glibc module does not include; used by SocketLoop's
// SocketEventLoop (the load engine's own loops) and bench-hello's relay floor on Linux.
#ifndef LOADTEST_CEPOLL_SHIM_H
#define LOADTEST_CEPOLL_SHIM_H
#ifdef __linux__
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

// GNU extensions of glibc (2.35+ for epoll_pwait2), declared here rather than by defining _GNU_SOURCE, which would
// change other system types against the modules that share them.
extern int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout,
                        const sigset_t *sigmask);
extern int pthread_setname_np(pthread_t thread, const char *name);
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);

/// epoll_pwait2 with a timeout in nanoseconds (negative: none).
static inline int loadtest_epoll_wait(int epfd, struct epoll_event *events, int maxevents, long long timeout_ns) {
    if (timeout_ns < 0) return epoll_pwait2(epfd, events, maxevents, NULL, NULL);
    struct timespec timeout = {(time_t)(timeout_ns / 1000000000LL), (long)(timeout_ns % 1000000000LL)};
    return epoll_pwait2(epfd, events, maxevents, &timeout, NULL);
}

/// Names the calling thread (at most 15 bytes are kept).
static inline void loadtest_set_thread_name(const char *name) {
    pthread_setname_np(pthread_self(), name);
}
#endif
#endif
