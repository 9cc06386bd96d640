/* core/rpc/rpc_server.c - `vmsim serve`'s engine: a UNIX socket, one thread and one client space per connection. */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "rpc_client.h"
#include "rpc_io.h"

enum {
	DEFAULT_MAX_CLIENTS = 64,
	DEFAULT_IDLE_TIMEOUT_MS = 300 * 1000,
	DEFAULT_FRAME_TIMEOUT_MS = 10 * 1000,
	DEFAULT_MAX_THREADS = 4096,
	FD_RESERVE = 64,              /* fds the server keeps for itself (listening socket, lock, pipes, logs) */
	REAP_INTERVAL_MS = 100,
	ACCEPT_BACKOFF_MIN_MS = 10,   /* after a failed accept (EMFILE, ENOMEM...): wait, doubling to the max */
	ACCEPT_BACKOFF_MAX_MS = 1000,
	ADMIT_WAIT_MS = 1000          /* all slots taken: how long a new connection waits for one to free */
};

struct conn {
	struct vmsim_rpc_server *server;
	struct conn *next, *prev;
	pthread_t thread;
	int fd;
	uint64_t number; /* 1, 2, ... in order of admission: the client's name for the client_log sink */
	bool finished; /* under server->lock: the thread has returned everything and may be joined */
};

struct vmsim_rpc_server {
	struct vmsim_env *env;
	struct vmsim_rpc_server_config cfg;
	uint64_t admitted; /* connections admitted so far (the acceptor's alone) */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char lock_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int lock_fd;
	int listen_fd;
	int stop_pipe[2];
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_cond_t slot_freed;
	struct conn *conns;
	unsigned count;          /* connections whose client is not yet torn down (the slots in use) */
	struct host_pool pool;   /* host threads, fds and backend RAM all clients draw from */
	uint64_t accept_failures; /* for the rate-limited log */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read exactly n bytes by deadline_ms (CLOCK_MONOTONIC); false on EOF, error or the deadline. */
static bool read_by(int fd, uint8_t *buf, size_t n, int64_t deadline_ms)
{
	while (n) {
		int64_t left = deadline_ms - now_ms();
		if (left <= 0)
			return false;
		struct pollfd p = {fd, POLLIN, 0};
		int ready = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			return false;
		ssize_t got = read(fd, buf, n);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return false;
		buf += got;
		n -= (size_t)got;
	}
	return true;
}

/* Answer one frame whose framing is lost: the client learns why before the close. */
static void refuse_frame(int fd, const uint8_t *header)
{
	struct vmsim_rpc_reply reply = {.result = VMSIM_DENIED};
	reply.op = (uint16_t)(header[6] | header[7] << 8) & (uint16_t)~VMSIM_RPC_REPLY_BIT;
	reply.seq = (uint32_t)header[8] | (uint32_t)header[9] << 8 | (uint32_t)header[10] << 16 |
	            (uint32_t)header[11] << 24;
	uint8_t buf[VMSIM_RPC_HEADER_SIZE + 4];
	size_t len;
	if (vmsim_rpc_encode_reply(&reply, buf, sizeof buf, &len) == VMSIM_OK)
		(void)io_write_full(fd, buf, len);
}

/* Serve one client until it disconnects, loses framing, idles or stalls past a timeout, or the server stops.
 * The first header byte may take idle_timeout; the rest of the frame must follow within frame_timeout. */
static void serve_client(struct conn *conn, struct vmsim_rpc_client *client)
{
	struct vmsim_env *env = conn->server->env;
	const struct vmsim_rpc_server_config *cfg = &conn->server->cfg;
	uint8_t *frame = vmsim_env_alloc(env, VMSIM_RPC_MAX_FRAME);
	uint8_t *reply = vmsim_env_alloc(env, VMSIM_RPC_MAX_FRAME);
	while (frame && reply) {
		size_t len, reply_len;
		if (!read_by(conn->fd, frame, 1, now_ms() + cfg->idle_timeout_ms))
			break;
		int64_t deadline = now_ms() + cfg->frame_timeout_ms;
		if (!read_by(conn->fd, frame + 1, VMSIM_RPC_HEADER_SIZE - 1, deadline))
			break;
		if (vmsim_rpc_frame_length(frame, VMSIM_RPC_HEADER_SIZE, &len) != VMSIM_OK) {
			refuse_frame(conn->fd, frame);
			break;
		}
		if (!read_by(conn->fd, frame + VMSIM_RPC_HEADER_SIZE, len - VMSIM_RPC_HEADER_SIZE, deadline))
			break;
		(void)vmsim_rpc_client_handle(client, frame, len, reply, &reply_len);
		/* a client that does not read its replies is bounded by SO_SNDTIMEO = frame_timeout */
		if (reply_len == 0 || !io_write_full(conn->fd, reply, reply_len))
			break;
	}
	if (frame)
		vmsim_env_free(env, frame, VMSIM_RPC_MAX_FRAME);
	if (reply)
		vmsim_env_free(env, reply, VMSIM_RPC_MAX_FRAME);
}

/* The connection's own thread and socket from the pool; false when the host share is used up. */
static bool pool_take(struct host_pool *pool, uint64_t threads, uint64_t fds)
{
	pthread_mutex_lock(&pool->lock);
	bool ok = quota_withdraw(&pool->threads, threads);
	if (ok && !(ok = quota_withdraw(&pool->fds, fds)))
		quota_replenish(&pool->threads, threads);
	pthread_mutex_unlock(&pool->lock);
	return ok;
}

static void pool_give(struct host_pool *pool, uint64_t threads, uint64_t fds)
{
	pthread_mutex_lock(&pool->lock);
	quota_replenish(&pool->threads, threads);
	quota_replenish(&pool->fds, fds);
	pthread_mutex_unlock(&pool->lock);
}

/* A client's sessions' line, named by its connection for the server's client_log. */
static void conn_log(void *ctx, enum vmsim_log_level level, const char *message)
{
	const struct conn *conn = ctx;
	conn->server->cfg.client_log(conn->server->cfg.client_log_ctx, conn->number, level, message);
}

static void *conn_main(void *arg)
{
	struct conn *conn = arg;
	struct vmsim_rpc_server *server = conn->server;
	struct vmsim_rpc_client *client;
	struct vmsim_rpc_client_config cfg = server->cfg.client;
	if (server->cfg.client_log) {
		cfg.log = conn_log;
		cfg.log_ctx = conn;
	}
	if (vmsim_rpc_client_create(server->env, &cfg, &client) == VMSIM_OK) {
		client_set_pool(client, &server->pool);
		serve_client(conn, client);
		/* disconnect: every session closed, every dataspace freed, the budget back */
		vmsim_rpc_client_destroy(client);
	}
	pool_give(&server->pool, 1, 1); /* the connection's own thread and socket */
	pthread_mutex_lock(&server->lock);
	shutdown(conn->fd, SHUT_RDWR);
	conn->finished = true;
	server->count--; /* the slot is free now, before the acceptor joins this thread */
	pthread_cond_broadcast(&server->slot_freed);
	pthread_mutex_unlock(&server->lock);
	return NULL;
}

/* Join connections whose thread has finished; all of them when everything is stopping. */
static void reap(struct vmsim_rpc_server *server, bool all)
{
	pthread_mutex_lock(&server->lock);
	for (struct conn *c = server->conns, *next; c; c = next) {
		next = c->next;
		if (all)
			shutdown(c->fd, SHUT_RDWR); /* unblocks its read: the thread tears the client down */
		if (!all && !c->finished)
			continue;
		CLIENT_UNLINK(server->conns, c);
		pthread_mutex_unlock(&server->lock);
		pthread_join(c->thread, NULL);
		close(c->fd);
		vmsim_env_free(server->env, c, sizeof *c);
		pthread_mutex_lock(&server->lock);
		next = server->conns;
	}
	pthread_mutex_unlock(&server->lock);
}

/* A slot and the connection's own thread and socket from the host pool, or false. Under server->lock. */
static bool try_take(struct vmsim_rpc_server *server)
{
	if (server->count >= server->cfg.max_clients || !pool_take(&server->pool, 1, 1))
		return false;
	server->count++;
	return true;
}

/* Wait (bounded) for a slot and the fd/thread budget: a client that just disconnected may still be tearing
 * down (it gives both back, then signals slot_freed); refusing at once lost connections made right after. */
static bool take_slot(struct vmsim_rpc_server *server)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ADMIT_WAIT_MS / 1000;
	until.tv_nsec += (long)(ADMIT_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&server->lock);
	bool ok = try_take(server);
	while (!ok && pthread_cond_timedwait(&server->slot_freed, &server->lock, &until) == 0)
		ok = try_take(server);
	if (!ok)
		ok = try_take(server); /* the deadline passed: one last look */
	pthread_mutex_unlock(&server->lock);
	return ok;
}

static void admit(struct vmsim_rpc_server *server, int fd)
{
	if (!take_slot(server)) {
		close(fd);
		return;
	}
	struct conn *conn = vmsim_env_alloc(server->env, sizeof *conn);
	unsigned ms = server->cfg.frame_timeout_ms;
	struct timeval send_timeout = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	if (conn && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout) == 0) {
		conn->server = server;
		conn->fd = fd;
		conn->number = ++server->admitted;
		conn->finished = false;
		pthread_mutex_lock(&server->lock);
		if (pthread_create(&conn->thread, NULL, conn_main, conn) == 0) {
			CLIENT_LINK(server->conns, conn);
			pthread_mutex_unlock(&server->lock);
			return;
		}
		pthread_mutex_unlock(&server->lock);
	}
	close(fd);
	pool_give(&server->pool, 1, 1);
	if (conn)
		vmsim_env_free(server->env, conn, sizeof *conn);
	pthread_mutex_lock(&server->lock);
	server->count--;
	pthread_cond_broadcast(&server->slot_freed);
	pthread_mutex_unlock(&server->lock);
}

static void *accept_main(void *arg)
{
	struct vmsim_rpc_server *server = arg;
	int backoff_ms = 0; /* > 0 after a failed accept: the listening socket is left out of the poll meanwhile */
	for (;;) {
		bool waiting = backoff_ms > 0;
		struct pollfd fds[2] = {{server->stop_pipe[0], POLLIN, 0}, {server->listen_fd, POLLIN, 0}};
		int n = poll(fds, waiting ? 1 : 2, waiting ? backoff_ms : REAP_INTERVAL_MS);
		reap(server, false);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && fds[0].revents)
			break;
		if (!waiting && (n <= 0 || !(fds[1].revents & POLLIN)))
			continue;
		int fd = accept4(server->listen_fd, NULL, NULL, SOCK_CLOEXEC); /* the listening socket is non-blocking */
		if (fd >= 0) {
			backoff_ms = 0;
			admit(server, fd);
			continue;
		}
		int err = errno;
		if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED || err == EPROTO) {
			backoff_ms = 0; /* nothing pending, or the peer went away: nothing to wait for */
			continue;
		}
		/* EMFILE, ENFILE, ENOBUFS, ENOMEM: retrying at once would spin; wait, doubling up to the max */
		backoff_ms = backoff_ms ? (2 * backoff_ms > ACCEPT_BACKOFF_MAX_MS ? ACCEPT_BACKOFF_MAX_MS : 2 * backoff_ms)
		                        : ACCEPT_BACKOFF_MIN_MS;
		uint64_t failures = ++server->accept_failures;
		if ((failures & (failures - 1)) == 0) /* the 1st, 2nd, 4th, 8th ... failure: a bounded log */
			vmsim_env_log(server->env, VMSIM_LOG_WARN, "rpc server: accept failed (%s), %llu times so far; "
			              "backing off %d ms", strerror(err), (unsigned long long)failures, backoff_ms);
	}
	return NULL;
}

/* The socket path's lock file: held for the server's life, so a second server on the same path refuses
 * instead of unlinking a live socket. The inode check retries if a stopping server unlinked the file. */
static enum vmsim_result lock_path(struct vmsim_rpc_server *server)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		int fd = open(server->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return VMSIM_DENIED;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int err = errno;
			close(fd);
			if (err == EWOULDBLOCK)
				vmsim_env_log(server->env, VMSIM_LOG_ERROR, "rpc server: %s is in use by another vmsim serve "
				              "(it holds %s)", server->path, server->lock_path);
			return VMSIM_DENIED;
		}
		struct stat held, now;
		if (fstat(fd, &held) == 0 && stat(server->lock_path, &now) == 0 && held.st_dev == now.st_dev &&
		    held.st_ino == now.st_ino) {
			server->lock_fd = fd;
			return VMSIM_OK;
		}
		close(fd); /* the file we locked was unlinked meanwhile: lock the new one */
	}
	return VMSIM_DENIED;
}

static void unlock_path(struct vmsim_rpc_server *server)
{
	unlink(server->lock_path);
	close(server->lock_fd);
}

static enum vmsim_result bind_socket(struct vmsim_rpc_server *server)
{
	struct stat st;
	if (lstat(server->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return VMSIM_DENIED; /* never unlink what is not a socket */
		unlink(server->path); /* we hold the lock: no live server owns it */
	}
	server->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (server->listen_fd < 0)
		return VMSIM_BACKEND_ERROR;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	memcpy(addr.sun_path, server->path, sizeof addr.sun_path);
	if (bind(server->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(server->listen_fd, 16) != 0) {
		close(server->listen_fd);
		return VMSIM_DENIED;
	}
	return VMSIM_OK;
}

/* Server-wide host limits and each client's share of them: the shares of max_clients clients, plus their
 * connections' own thread and socket, never add up to more than the totals (no client can fail another). */
static void set_host_limits(struct vmsim_rpc_server *server)
{
	struct vmsim_rpc_server_config *cfg = &server->cfg;
	if (!cfg->max_fds) {
		struct rlimit rl = {0, 0};
		uint64_t cur = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 1024;
		if (cur > (1u << 20))
			cur = 1u << 20;
		cfg->max_fds = (uint32_t)(cur > 2 * FD_RESERVE ? cur - FD_RESERVE : cur / 2);
	}
	if (!cfg->max_threads)
		cfg->max_threads = DEFAULT_MAX_THREADS;
	if (!cfg->host_ram) {
		struct vmsim_quota q;
		vmsim_env_quota(server->env, &q);
		cfg->host_ram = q.ram_limit;
	}
	if (!cfg->client.ram) {
		struct vmsim_quota q;
		vmsim_env_quota(server->env, &q);
		cfg->client.ram = q.ram_limit / cfg->max_clients;
	}
	uint32_t threads_share = cfg->max_threads / cfg->max_clients, fds_share = cfg->max_fds / cfg->max_clients;
	if (!cfg->client.threads)
		cfg->client.threads = threads_share > 1 ? threads_share - 1 : 1;
	if (!cfg->client.fds)
		cfg->client.fds = fds_share > 1 ? fds_share - 1 : 1;
	server->pool.ram.limit = cfg->host_ram;
	server->pool.threads.limit = cfg->max_threads;
	server->pool.fds.limit = cfg->max_fds;
}

enum vmsim_result vmsim_rpc_server_start(struct vmsim_env *env, const struct vmsim_rpc_server_config *cfg,
                                         struct vmsim_rpc_server **out)
{
	if (!env || !cfg || !cfg->socket_path || !out)
		return VMSIM_INVALID_ARGUMENT;
	*out = NULL;
	struct vmsim_rpc_server *server = vmsim_env_alloc(env, sizeof *server);
	if (!server)
		return VMSIM_OUT_OF_RAM;
	memset(server, 0, sizeof *server);
	enum vmsim_result r = VMSIM_INVALID_ARGUMENT;
	size_t path_len = strlen(cfg->socket_path);
	if (path_len == 0 || path_len >= sizeof server->path)
		goto free_server;
	memcpy(server->path, cfg->socket_path, path_len + 1);
	snprintf(server->lock_path, sizeof server->lock_path, "%s.lock", server->path);
	server->env = env;
	server->cfg = *cfg;
	server->cfg.socket_path = server->path;
	if (!server->cfg.max_clients)
		server->cfg.max_clients = DEFAULT_MAX_CLIENTS;
	if (!server->cfg.idle_timeout_ms)
		server->cfg.idle_timeout_ms = DEFAULT_IDLE_TIMEOUT_MS;
	if (!server->cfg.frame_timeout_ms)
		server->cfg.frame_timeout_ms = DEFAULT_FRAME_TIMEOUT_MS;
	set_host_limits(server);
	if ((r = lock_path(server)) != VMSIM_OK)
		goto free_server;
	r = VMSIM_BACKEND_ERROR;
	if (pipe2(server->stop_pipe, O_CLOEXEC) != 0)
		goto unlock;
	if ((r = bind_socket(server)) != VMSIM_OK)
		goto close_pipe;
	pthread_mutex_init(&server->lock, NULL);
	pthread_mutex_init(&server->pool.lock, NULL);
	pthread_cond_init(&server->slot_freed, NULL);
	if (pthread_create(&server->acceptor, NULL, accept_main, server) != 0) {
		r = VMSIM_BACKEND_ERROR;
		pthread_mutex_destroy(&server->pool.lock);
		pthread_cond_destroy(&server->slot_freed);
		pthread_mutex_destroy(&server->lock);
		close(server->listen_fd);
		unlink(server->path);
		goto close_pipe;
	}
	*out = server;
	return VMSIM_OK;

close_pipe:
	close(server->stop_pipe[0]);
	close(server->stop_pipe[1]);
unlock:
	unlock_path(server);
free_server:
	vmsim_env_free(env, server, sizeof *server);
	return r;
}

void vmsim_rpc_server_stop(struct vmsim_rpc_server *server)
{
	if (!server)
		return;
	(void)!write(server->stop_pipe[1], "x", 1);
	pthread_join(server->acceptor, NULL);
	reap(server, true);
	close(server->listen_fd);
	unlink(server->path);
	unlock_path(server);
	close(server->stop_pipe[0]);
	close(server->stop_pipe[1]);
	pthread_cond_destroy(&server->slot_freed);
	pthread_mutex_destroy(&server->pool.lock);
	pthread_mutex_destroy(&server->lock);
	vmsim_env_free(server->env, server, sizeof *server);
}
